#!/usr/bin/env python3
"""Benchmark: how long a claim takes, as a whole `nexo claim` process.

  local        `nexo claim RUN STEP` in a clone (writer lock, one event,
               one commit)
  renew        the same holder claiming again (a renewal)
  sync         `nexo claim RUN STEP --sync` against a bare remote on the
               same disk: pull first, claim, commit, push, check
  sync, raced  the same with N clones claiming one step at once; the
               figure is the slowest contender's (the loser fetches,
               yields and pushes again)

Every iteration claims a fresh step, so no claim is refused. Prints the
median, mean, p90 and min in milliseconds. Release build.
Usage: benches/claims.py [--iterations N] [--racers N] [--work DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(args, cwd):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True).stdout


def build_nexo():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "nexo")


def clone(bare, path, name):
    sh(["git", "clone", "-q", bare, path], os.path.dirname(path))
    for k, v in [("user.name", name), ("user.email", f"{name}@example.com"), ("pull.rebase", "false")]:
        sh(["git", "config", k, v], path)


def setup(work, racers, steps, nexo):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    bare = os.path.join(work, "remote.git")
    sh(["git", "init", "-q", "--bare", "-b", "main", bare], work)
    first = os.path.join(work, "c0")
    os.makedirs(first)
    sh(["git", "init", "-q", "-b", "main"], first)
    for k, v in [("user.name", "c0"), ("user.email", "c0@example.com")]:
        sh(["git", "config", k, v], first)
    with open(os.path.join(first, "README.md"), "w") as f:
        f.write("# bench\n")
    sh(["git", "add", "README.md"], first)
    sh(["git", "commit", "-q", "-m", "initial"], first)
    sh(["git", "remote", "add", "origin", bare], first)
    sh(["git", "push", "-q", "-u", "origin", "main"], first)
    args = [nexo, "open", "Bench claims", "--json"]
    for i in range(steps):
        args += ["--step", f"s{i}"]
    run = json.loads(sh(args, first))["run_id"]
    sh([nexo, "sync"], first)
    clones = [first]
    for i in range(1, racers):
        path = os.path.join(work, f"c{i}")
        clone(bare, path, f"c{i}")
        sh([nexo, "sync"], path)
        clones.append(path)
    return run, clones


def timed(args, cwd):
    t = time.perf_counter()
    p = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    return (time.perf_counter() - t) * 1000, p.returncode


def report(name, samples):
    samples = sorted(samples)
    p90 = samples[int(len(samples) * 0.9) - 1] if len(samples) >= 10 else samples[-1]
    print(f"{name:<14} median {statistics.median(samples):7.1f} ms   mean {statistics.mean(samples):7.1f}"
          f"   p90 {p90:7.1f}   min {samples[0]:7.1f}   (n={len(samples)})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--racers", type=int, default=4)
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "nexo-bench-claims"))
    a = ap.parse_args()
    nexo = build_nexo()
    n = a.iterations
    run, clones = setup(a.work, a.racers, 3 * n + n, nexo)
    first = clones[0]
    local, renew, synced, raced = [], [], [], []
    for i in range(n):
        ms, rc = timed([nexo, "claim", run, f"s{i}", "--actor", "bench"], first)
        assert rc == 0
        local.append(ms)
        ms, rc = timed([nexo, "claim", run, f"s{i}", "--actor", "bench"], first)
        assert rc == 0
        renew.append(ms)
    for i in range(n, 2 * n):
        ms, rc = timed([nexo, "claim", run, f"s{i}", "--actor", "bench", "--sync"], first)
        assert rc == 0, "a lone --sync claim wins"
        synced.append(ms)
    for c in clones:
        sh([nexo, "sync"], c)
    for i in range(2 * n, 3 * n):
        results = [None] * len(clones)
        start = threading.Barrier(len(clones))

        def go(k):
            start.wait()
            results[k] = timed([nexo, "claim", run, f"s{i}", "--actor", f"agent{k}", "--sync"], clones[k])

        threads = [threading.Thread(target=go, args=(k,)) for k in range(len(clones))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = sum(1 for _, rc in results if rc == 0)
        assert winners == 1, f"round {i}: {winners} winners"
        raced.append(max(ms for ms, _ in results))
    report("local", local)
    report("renew", renew)
    report("sync", synced)
    report(f"sync, {len(clones)} race", raced)


if __name__ == "__main__":
    main()
