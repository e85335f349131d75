#!/usr/bin/env python3
"""Benchmark: `nexo verify` over a repository of 1,000 gated runs.

Builds (once, under --work) a repository whose main holds --runs runs under
an explicit approval policy, each with a gate an approver passed, and a
branch `pr` that moves two of them on and opens one more (a pull request).
Then times whole processes on `pr`, interleaved:

  list cold               `nexo list` with no cache at all, as in a fresh clone
  list                    `nexo list`
  verify --trusted warm   `nexo verify --trusted main`, its cache in place
  verify --trusted cold   the same after deleting nexo-cache/verify
  verify warm             `nexo verify` (every run judged), cache in place
  verify cold             the same after deleting nexo-cache/verify

Prints medians in milliseconds and each as a multiple of `list` (the issue
asks for at most 3x). Release build, or the binaries given with --nexo: with
two or more, each round gives each binary a copy of the repository of its
own (their caches may differ in format; every warm case follows its cold one
in the same round), the copies rotate between rounds, and each line shows
the ratio of every binary to the first.
Usage: benches/verify.py [--runs N] [--iterations N] [--work DIR] [--nexo BIN]...
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(args, cwd, **kw):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, **kw).stdout


def event_id(r, n):
    return "01" + f"{r:020d}{n:04d}"


def line(r, n, parents, actor, body_type, data):
    return json.dumps({"v": 2, "id": event_id(r, n), "clock": n, "parents": parents,
                       "at": "2026-12-02T10:00:00.000Z", "actor": actor, "type": body_type,
                       "data": data}, separators=(",", ":"))


def history(r, rid):
    steps = [{"key": "build", "title": "Build"},
             {"key": "publish", "title": "Publish", "requires_approval": True}]
    lines = [line(r, 1, [], "codex", "opened", {"run_id": rid, "sid": "bench", "goal": f"run {r}",
                                                 "owner": "codex", "priority": "normal",
                                                 "workflow_kind": "release", "steps": steps}),
             line(r, 2, [event_id(r, 1)], "codex", "updated",
                  {"step_key": "build", "step_status": "completed", "summary": "built"}),
             line(r, 3, [event_id(r, 2)], "lead", "approved", {"step_key": "publish", "note": "ok"}),
             line(r, 4, [event_id(r, 3)], "codex", "updated",
                  {"step_key": "publish", "step_status": "completed", "summary": "published"})]
    return "\n".join(lines) + "\n"


def build(work, runs, nexo):
    stamp = os.path.join(work, f"built-{runs}")
    repo = os.path.join(work, "repo")
    if os.path.exists(stamp):
        return repo
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(repo, ".nexo"))
    sh(["git", "init", "-q", "-b", "main"], repo)
    sh(["git", "config", "user.name", "Bench"], repo)
    sh(["git", "config", "user.email", "bench@example.com"], repo)
    with open(os.path.join(repo, ".nexo", "config.yaml"), "w") as f:
        f.write("approvals:\n  policy: explicit\n  approvers: [lead]\n")
    for r in range(runs):
        rid = f"WF-VERIFY{r:010d}"
        d = os.path.join(repo, ".nexo", "runs", rid)
        os.makedirs(d)
        with open(os.path.join(d, "history.jsonl"), "w") as f:
            f.write(history(r, rid))
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-q", "-m", "runs"], repo)
    sh([nexo, "doctor", "--fix"], repo)
    sh(["git", "switch", "-q", "-c", "pr"], repo)
    for r in (0, 1):
        rid = f"WF-VERIFY{r:010d}"
        sh([nexo, "update", rid, "--run-status", "completed", "--actor", "codex"], repo)
    sh([nexo, "open", "One more", "--step", "a:A", "--actor", "codex"], repo)
    sh(["git", "gc", "-q"], repo)
    open(stamp, "w").close()
    return repo


def timed(args, cwd):
    t = time.perf_counter()
    out = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL)
    assert out.returncode == 0, f"{args}: exit {out.returncode}"
    return (time.perf_counter() - t) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "verify-bench"))
    ap.add_argument("--nexo", action="append", help="a binary to measure (repeat for an A/B)")
    a = ap.parse_args()
    if not a.nexo:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    nexos = a.nexo or [os.path.join(ROOT, "target", "release", "nexo")]
    built = build(a.work, a.runs, nexos[0])
    repos = []
    for i, _ in enumerate(nexos):
        copy = f"{built}-{i}"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(built, copy, symlinks=True)
        repos.append(copy)

    def cases(nexo):
        return {
            # As in a fresh clone on a CI runner: no cache of any kind.
            "list cold": ([nexo, "list"], "all"),
            "list": ([nexo, "list"], False),
            # Each warm case follows the cold one that filled its cache.
            "verify --trusted cold": ([nexo, "verify", "--trusted", "main"], True),
            "verify --trusted warm": ([nexo, "verify", "--trusted", "main"], False),
            "verify cold": ([nexo, "verify"], True),
            "verify warm": ([nexo, "verify"], False),
        }

    for nexo, repo in zip(nexos, repos):
        for args, _ in cases(nexo).values():
            timed(args, repo)
    times = [{k: [] for k in cases(n)} for n in nexos]
    for round_ in range(a.iterations):
        for i, nexo in enumerate(nexos):
            # Each binary takes each copy in turn: copies differ in how
            # their files lie on disk, which a cold read feels.
            repo = repos[(i + round_) % len(repos)]
            caches = os.path.join(repo, ".git", "nexo-cache")
            for k, (args, cold) in cases(nexo).items():
                if cold:
                    shutil.rmtree(caches if cold == "all" else os.path.join(caches, "verify"),
                                  ignore_errors=True)
                times[i][k].append(timed(args, repo))
    meds = [{k: statistics.median(v) for k, v in t.items()} for t in times]
    print(f"{a.runs} runs, {a.iterations} rounds")
    for i, nexo in enumerate(nexos):
        print(f"== {nexo}")
        for k, v in meds[i].items():
            vs = f"   {v / meds[0][k]:5.2f}x the first" if i else ""
            print(f"{k:<22} median {v:8.1f} ms   {v / meds[i]['list']:5.1f}x list{vs}")


if __name__ == "__main__":
    main()
