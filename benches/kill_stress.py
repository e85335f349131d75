#!/usr/bin/env python3
"""Randomised kill -9 stress: nexo writes killed at random moments.

In a repository of several thousand tracked files, each trial starts one
nexo write (an update, an open, or a gate request / approval), kills it
with SIGKILL after a random delay spread over the command's whole running
time, then lets the next nexo write run and checks that:

  - every event a command acknowledged (exit 0, an event id printed) is in
    HEAD's history;
  - `git status` is clean for .nexo/ (no temporary, stale or unstaged file);
  - no index.lock or ref lock is left;
  - `git fsck --strict` is clean (every 10th trial, it is slow);
  - the user's next `git commit -a` leaves .nexo/ as it was (every 10th).

A trial that needs a person (a failing recovery command, a leftover lock,
a dirty .nexo/) is a failure. Prints trial and failure counts by where the
kill landed (before or after the command acknowledged).

With --seal-bytes N, runs a debug build with its live history files
sealed into segments from N bytes (the debug-build hook NEXO_SEAL_BYTES),
so kills also land in the middle of seals.

usage: benches/kill_stress.py [--trials N] [--files N] [--seed N] [--work DIR] [--seal-bytes N]
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(args, cwd, check=True):
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True)


def build_nexo(debug=False):
    if debug:
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
        return os.path.join(ROOT, "target", "debug", "nexo")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "nexo")


def make_repo(path, files):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    sh(["git", "init", "-q", "-b", "main"], path)
    sh(["git", "config", "user.name", "Stress"], path)
    sh(["git", "config", "user.email", "stress@example.com"], path)
    for i in range(files):
        d = os.path.join(path, "src", f"mod{i // 500:03d}")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i % 500:03d}.rs"), "w") as f:
            f.write(f"pub fn f{i}() {{}}\n")
    sh(["git", "add", "-A"], path)
    sh(["git", "commit", "-q", "-m", "files"], path)


def call(nexo, repo, tool, fields):
    out = sh([nexo, "call", tool, "--input", json.dumps(fields)], repo, check=False)
    value = json.loads(out.stdout) if out.stdout.strip() else {}
    return out.returncode, value, (out.stderr + value.get("error", "")).strip()


def open_run(nexo, repo, n):
    code, v, err = call(nexo, repo, "nexo_workflow_open", {
        "sid": "stress", "goal": f"run {n}",
        "steps": [{"key": "a", "title": "A"}, {"key": "gate", "title": "Gate"}]})
    assert code == 0, err
    return v["run_id"]


def history_in_head(repo, run):
    """The run's whole history in HEAD: sealed segments and live file."""
    files = sh(["git", "ls-tree", "-r", "--name-only", "HEAD", f".nexo/runs/{run}/"], repo).stdout.split()
    parts = [f for f in files if f.endswith("/history.jsonl") or "/history/" in f]
    return "".join(sh(["git", "show", f"HEAD:{f}"], repo, check=False).stdout for f in parts)


def median_duration(nexo, repo, run):
    times = []
    for i in range(5):
        t = time.perf_counter()
        code, _, err = call(nexo, repo, "nexo_workflow_update", {"run_id": run, "summary": f"warm {i}"})
        assert code == 0, err
        times.append(time.perf_counter() - t)
    return sorted(times)[2]


def request(rng, runs, n):
    """One random write: (tool, fields)."""
    run = rng.choice(runs)
    kind = rng.random()
    if kind < 0.6:
        return "nexo_workflow_update", {"run_id": run, "summary": f"trial {n}", "step_key": "a",
                                        "step_status": rng.choice(["running", "completed"])}
    if kind < 0.8:
        return "nexo_workflow_open", {"sid": "stress", "goal": f"opened in trial {n}", "steps": [{"key": "a"}]}
    if kind < 0.9:
        return "nexo_workflow_update", {"run_id": run, "step_key": "gate", "step_status": "blocked",
                                        "requires_approval": True}
    return "nexo_workflow_approve", {"run_id": run, "step_key": "gate", "note": f"trial {n}"}


def check(repo, acked, deep):
    problems = []
    histories = {}
    for run, event in acked:
        if run not in histories:
            histories[run] = history_in_head(repo, run)
        if event not in histories[run]:
            problems.append(f"acknowledged event {event} of {run} is not in HEAD")
    status = sh(["git", "status", "--porcelain", "--untracked-files=all", "--", ".nexo"], repo).stdout
    if status:
        problems.append(f".nexo/ not clean: {status!r}")
    for lock in ["index.lock", "HEAD.lock", "refs/heads/main.lock"]:
        if os.path.exists(os.path.join(repo, ".git", lock)):
            problems.append(f"{lock} left behind")
    if deep:
        fsck = sh(["git", "fsck", "--strict", "--no-dangling"], repo, check=False)
        if fsck.returncode != 0:
            problems.append(f"git fsck: {fsck.stderr.strip()}")
        tree = sh(["git", "rev-parse", "HEAD:.nexo"], repo).stdout
        with open(os.path.join(repo, "src", "mod000", "f000.rs"), "a") as f:
            f.write("// user edit\n")
        sh(["git", "commit", "-q", "-am", "user"], repo)
        if sh(["git", "rev-parse", "HEAD:.nexo"], repo).stdout != tree:
            problems.append("the user's git commit changed .nexo/")
    return problems


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--files", type=int, default=5000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default=os.path.join(ROOT, "target", "kill-stress"))
    p.add_argument("--seal-bytes", type=int, help="debug build, histories sealed from this size")
    a = p.parse_args()
    rng = random.Random(a.seed)
    nexo = build_nexo(debug=a.seal_bytes is not None)
    if a.seal_bytes is not None:
        os.environ["NEXO_SEAL_BYTES"] = str(a.seal_bytes)
    repo = os.path.join(a.work, "repo")
    make_repo(repo, a.files)
    runs = [open_run(nexo, repo, i) for i in range(3)]
    span = median_duration(nexo, repo, runs[0])
    print(f"{a.files} files; a write takes {span * 1000:.1f} ms; kills spread over 0-{span * 1300:.1f} ms")
    acked = []
    counts = {"killed before the answer": 0, "finished before the kill": 0}
    failures = []
    for n in range(a.trials):
        tool, fields = request(rng, runs, n)
        child = subprocess.Popen([nexo, "call", tool, "--input", json.dumps(fields)], cwd=repo,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0, span * 1.3))
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate()
        if child.returncode == 0:
            counts["finished before the kill"] += 1
            v = json.loads(out)
            if "event_id" in v:
                acked.append((v["run_id"], v["event_id"]))
            if tool == "nexo_workflow_open":
                runs.append(v["run_id"])
        else:
            counts["killed before the answer"] += 1
        # The next write must succeed on its own and finish the killed one.
        code, v, err = call(nexo, repo, "nexo_workflow_update", {"run_id": runs[0], "summary": f"after {n}"})
        if code != 0:
            locks = sh(["find", ".git", "-name", "*.lock"], repo).stdout.split()
            failures.append((n, tool, f"the next command failed ({code}): {err} [locks: {locks}]"))
            continue
        acked.append((runs[0], v["event_id"]))
        for problem in check(repo, acked, deep=(n % 10 == 9)):
            failures.append((n, tool, problem))
    print(f"trials: {a.trials}; " + "; ".join(f"{k}: {v}" for k, v in counts.items()))
    print(f"acknowledged events checked: {len(acked)}")
    print(f"failures: {len(failures)}")
    for f in failures[:20]:
        print("  ", *f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
