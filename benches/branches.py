#!/usr/bin/env python3
"""Benchmark: `nexo list --branches` with many branches.

Builds (once, under --work) a repository with --runs runs on main and
--branches branches, each with one commit that moved one run on (so every
branch's `.nexo/runs` tree differs from main's), then times whole
processes, interleaved:

  list           `nexo list` (this branch only)
  branches warm  `nexo list --branches`, caches in place
  branches cold  the same after deleting nexo's cache of other refs

Prints medians in milliseconds and the ratios the issue asks for
(warm at most 5x list, cold at most 2 s). Release build.
Usage: benches/branches.py [--runs N] [--branches N] [--iterations N] [--work DIR]
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


def event_id(n):
    return "01" + f"{n:024d}"


def line(n, parents, body_type, data):
    return json.dumps({"v": 2, "id": event_id(n), "clock": n, "parents": parents,
                       "at": "2026-12-02T10:00:00.000Z", "actor": "bench", "type": body_type,
                       "data": data}, separators=(",", ":"))


def build(work, runs, branches, nexo):
    stamp = os.path.join(work, f"built-{runs}-{branches}")
    repo = os.path.join(work, "repo")
    if os.path.exists(stamp):
        return repo
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(repo)
    sh(["git", "init", "-q", "-b", "main"], repo)
    sh(["git", "config", "user.name", "Bench"], repo)
    sh(["git", "config", "user.email", "bench@example.com"], repo)
    for r in range(runs):
        rid = f"WF-BRANCH{r:010d}"
        d = os.path.join(repo, ".nexo", "runs", rid)
        os.makedirs(d)
        with open(os.path.join(d, "history.jsonl"), "w") as f:
            f.write(line(1, [], "opened", {"run_id": rid, "sid": "bench", "goal": f"run {r}",
                                           "priority": "normal", "workflow_kind": "general",
                                           "steps": [{"key": "s0", "title": "Step 0"}]}) + "\n")
    sh(["git", "add", "-A"], repo)
    sh(["git", "commit", "-q", "-m", "runs"], repo)
    sh([nexo, "doctor", "--fix"], repo)
    base = sh(["git", "rev-parse", "HEAD"], repo).strip()
    # Each branch: main plus one commit moving one run on, made with
    # plumbing (no checkout): a new blob, tree and commit.
    for b in range(branches):
        rid = f"WF-BRANCH{b % runs:010d}"
        path = f".nexo/runs/{rid}/history.jsonl"
        old = sh(["git", "show", f"{base}:{path}"], repo)
        new = old + line(2, [event_id(1)], "updated", {"step_key": "s0", "step_status": "running",
                                                          "summary": f"branch {b}"}) + "\n"
        env = dict(os.environ, GIT_INDEX_FILE=os.path.join(work, "index.tmp"))
        sh(["git", "read-tree", base], repo, env=env)
        blob = subprocess.run(["git", "hash-object", "-w", "--stdin"], cwd=repo, input=new,
                              capture_output=True, text=True, check=True).stdout.strip()
        sh(["git", "update-index", "--cacheinfo", f"100644,{blob},{path}"], repo, env=env)
        tree = sh(["git", "write-tree"], repo, env=env).strip()
        commit = sh(["git", "commit-tree", tree, "-p", base, "-m", f"branch {b}"], repo).strip()
        sh(["git", "update-ref", f"refs/heads/agent-{b:04d}", commit], repo)
    sh(["git", "gc", "-q"], repo)
    open(stamp, "w").close()
    return repo


def timed(args, cwd):
    t = time.perf_counter()
    subprocess.run(args, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t) * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--branches", type=int, default=500)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "branches-bench"))
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    nexo = os.path.join(ROOT, "target", "release", "nexo")
    repo = build(a.work, a.runs, a.branches, nexo)
    cache = os.path.join(repo, ".git", "nexo-cache", "refs")
    for _ in range(2):
        timed([nexo, "list"], repo)
        timed([nexo, "list", "--branches"], repo)
    times = {"list": [], "branches warm": [], "branches cold": []}
    for _ in range(a.iterations):
        times["list"].append(timed([nexo, "list"], repo))
        times["branches warm"].append(timed([nexo, "list", "--branches"], repo))
        shutil.rmtree(cache, ignore_errors=True)
        times["branches cold"].append(timed([nexo, "list", "--branches"], repo))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{a.runs} runs, {a.branches} branches, {a.iterations} rounds")
    for k, v in med.items():
        print(f"{k:<14} median {v:8.1f} ms   {v / med['list']:5.1f}x list")


if __name__ == "__main__":
    main()
