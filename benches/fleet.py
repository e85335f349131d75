#!/usr/bin/env python3
"""Benchmark: a fleet of N agents, each on its own clone of one bare remote,
draining one run of 4*N independent steps plus a `wrap` step that needs them
all; side by side, in the same run, with N plain-git agents pushing the same
number of changes to another bare remote.

nexo agents loop (each command a whole process, as an agent runs it):
  nexo ready --claim --sync   -> a step, or nothing ready
  nexo update RUN STEP --status completed
  nexo sync                   (--loop each; with --loop batched the next
                               claim's push carries the completion)
When nothing is ready, an agent syncs and looks again after a short pause,
until the run is completed.

Plain-git agents loop: append a line to a file of their own, commit, and
`git pull --rebase && git push`, again on a rejected push, until the remote
holds as many of their commits as the nexo fleet made pushes of changes
(two a step: the claim and the completion).

Prints, for each side: wall time, steps/s, p50/p90 of every command,
completions per agent, failed commands by exit code, commits and merge
commits on the remote; and checks that every step was completed exactly
once, that the clones ended byte-identical in .nexo/, that `git fsck
--strict` is clean and that `nexo doctor` exits 0 on every clone.

Usage: benches/fleet.py [--agents N[,N...]] [--loop each|batched]
                        [--work DIR] [--nexo BIN] [--keep]
"""
import argparse
import collections
import json
import os
import random
import shutil
import statistics
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0", LC_ALL="C")


def sh(args, cwd, check=True, env=None):
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True,
                          env=env or ENV)


def git_home(work):
    home = os.path.join(work, "home")
    os.makedirs(home, exist_ok=True)
    env = dict(ENV, HOME=home, XDG_CONFIG_HOME=os.path.join(home, ".config"))
    return env


def clone(bare, path, name, env):
    sh(["git", "clone", "-q", bare, path], os.path.dirname(path), env=env)
    for k, v in [("user.name", name), ("user.email", f"{name}@example.com")]:
        sh(["git", "config", k, v], path, env=env)


def seed(work, name, env):
    bare = os.path.join(work, f"{name}.git")
    sh(["git", "init", "-q", "--bare", "-b", "main", bare], work, env=env)
    first = os.path.join(work, f"{name}-seed")
    os.makedirs(first)
    sh(["git", "init", "-q", "-b", "main"], first, env=env)
    for k, v in [("user.name", "seed"), ("user.email", "seed@example.com")]:
        sh(["git", "config", k, v], first, env=env)
    with open(os.path.join(first, "README.md"), "w") as f:
        f.write("# fleet\n")
    sh(["git", "add", "README.md"], first, env=env)
    sh(["git", "commit", "-q", "-m", "initial"], first, env=env)
    sh(["git", "remote", "add", "origin", bare], first, env=env)
    sh(["git", "push", "-q", "-u", "origin", "main"], first, env=env)
    return bare, first


class Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.rows = []  # (agent, command, seconds, exit code)

    def run(self, agent, what, args, cwd, env):
        t = time.perf_counter()
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
        dt = time.perf_counter() - t
        with self.lock:
            self.rows.append((agent, what, dt, out.returncode))
        return out


def nexo_agent(i, dirs, run_id, nexo, log, env, loop, done_steps, stop):
    d = dirs[i]
    actor = f"agent{i}"
    aenv = dict(env, NEXO_ACTOR=actor)
    rng = random.Random(i)
    while not stop.is_set():
        out = log.run(i, "ready --claim --sync", [nexo, "--json", "ready", "--claim", "--sync"], d, aenv)
        if out.returncode != 0:
            time.sleep(0.05 + rng.random() * 0.1)
            continue
        answer = json.loads(out.stdout)
        claimed = answer.get("claimed")
        if claimed:
            step = claimed["step_key"]
            out = log.run(i, "update --status completed",
                          [nexo, "--json", "update", claimed["run_id"], step, "--status", "completed"],
                          d, aenv)
            if out.returncode == 0:
                with log.lock:
                    done_steps[step].append(i)
                if step == "wrap":
                    stop.set()
            if loop == "each" or step == "wrap":
                log.run(i, "sync", [nexo, "--json", "sync"], d, aenv)
            continue
        log.run(i, "sync", [nexo, "--json", "sync"], d, aenv)
        got = log.run(i, "get", [nexo, "--json", "get", run_id], d, aenv)
        if got.returncode == 0 and json.loads(got.stdout)["run"]["status"] == "completed":
            return
        time.sleep(0.1 + rng.random() * 0.2)


def git_agent(i, d, log, env, target, pushed, stop):
    n = 0
    while not stop.is_set():
        n += 1
        path = os.path.join(d, f"agent{i}.txt")
        with open(path, "a") as f:
            f.write(f"change {n}\n")
        sh(["git", "add", f"agent{i}.txt"], d, env=env)
        sh(["git", "commit", "-q", "-m", f"agent{i} change {n}"], d, env=env)
        while True:
            log.run(i, "pull --rebase", ["git", "pull", "-q", "--rebase"], d, env)
            out = log.run(i, "push", ["git", "push", "-q"], d, env)
            if out.returncode == 0:
                break
        with log.lock:
            pushed[0] += 1
            if pushed[0] >= target:
                stop.set()


def summary(name, log, wall, steps, agents):
    by = collections.defaultdict(list)
    fails = collections.Counter()
    for _, what, dt, code in log.rows:
        by[what].append(dt)
        if code != 0:
            fails[(what, code)] += 1
    print(f"== {name}: {agents} agents, wall {wall:.1f} s, {steps / wall:.2f} steps/s, "
          f"{len(log.rows)} commands, {sum(fails.values())} failed")
    for what, v in sorted(by.items()):
        v.sort()
        p90 = v[min(len(v) - 1, int(len(v) * 0.9))]
        print(f"   {what:<28} n={len(v):<5} p50 {statistics.median(v) * 1000:7.0f} ms   "
              f"p90 {p90 * 1000:7.0f} ms")
    for (what, code), n in sorted(fails.items()):
        print(f"   failed: {what} exit {code}: {n}")


def remote_counts(bare, env):
    commits = sh(["git", "rev-list", "--count", "main"], bare, env=env).stdout.strip()
    merges = sh(["git", "rev-list", "--count", "--merges", "main"], bare, env=env).stdout.strip()
    return int(commits), int(merges)


def checks(dirs, run_id, nexo, env, done_steps, steps):
    problems = []
    once = [s for s, who in done_steps.items() if len(who) != 1]
    if len(done_steps) != steps or once:
        problems.append(f"{len(done_steps)} of {steps} steps completed; not exactly once: {once}")
    for d in dirs:
        sh([nexo, "sync"], d, check=False, env=env)
    for d in dirs:
        sh([nexo, "sync"], d, check=False, env=env)
    trees = {sh(["git", "rev-parse", "HEAD:.nexo"], d, env=env).stdout.strip() for d in dirs}
    if len(trees) != 1:
        problems.append(f"clones differ in .nexo: {len(trees)} trees")
    for d in dirs:
        if sh(["git", "fsck", "--strict"], d, check=False, env=env).returncode != 0:
            problems.append(f"fsck failed in {d}")
        doc = sh([nexo, "doctor"], d, check=False, env=env)
        if doc.returncode != 0:
            problems.append(f"doctor exit {doc.returncode} in {d}: {doc.stdout[-300:]}")
    history = os.path.join(dirs[0], ".nexo", "runs", run_id, "history.jsonl")
    completions = collections.Counter()
    with open(history) as f:
        for line in f:
            e = json.loads(line)
            if e["type"] == "updated" and e["data"].get("step_status") == "completed":
                completions[e["data"]["step_key"]] += 1
    twice = [k for k, n in completions.items() if n != 1]
    if twice:
        problems.append(f"steps completed more than once in the history: {twice}")
    return problems


def fleet(n, work, nexo, loop):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    env = git_home(work)
    bare, first = seed(work, "nexo", env)
    keys = [f"s{k}" for k in range(4 * n)]
    args = [nexo, "--json", "open", "Drain the fleet", "--actor", "seed"]
    for k in keys + ["wrap"]:
        args += ["--step", k]
    args += ["--needs", "wrap=" + ",".join(keys)]
    run_id = json.loads(sh(args, first, env=env).stdout)["run_id"]
    sh([nexo, "sync"], first, env=env)
    dirs = []
    for i in range(n):
        d = os.path.join(work, f"c{i}")
        clone(bare, d, f"agent{i}", env)
        dirs.append(d)
    # The plain-git side, seeded alike.
    gbare, _ = seed(work, "git", env)
    gdirs = []
    for i in range(n):
        d = os.path.join(work, f"g{i}")
        clone(gbare, d, f"agent{i}", env)
        sh(["git", "config", "pull.rebase", "true"], d, env=env)
        gdirs.append(d)

    log, done_steps, stop = Log(), collections.defaultdict(list), threading.Event()
    t = time.perf_counter()
    threads = [threading.Thread(target=nexo_agent,
                                args=(i, dirs, run_id, nexo, log, env, loop, done_steps, stop))
               for i in range(n)]
    [th.start() for th in threads]
    [th.join() for th in threads]
    nexo_wall = time.perf_counter() - t
    steps = len(keys) + 1

    glog, pushed, gstop = Log(), [0], threading.Event()
    t = time.perf_counter()
    target = 2 * steps
    gthreads = [threading.Thread(target=git_agent, args=(i, gdirs[i], glog, env, target, pushed, gstop))
                for i in range(n)]
    [th.start() for th in gthreads]
    [th.join() for th in gthreads]
    git_wall = time.perf_counter() - t

    summary(f"nexo ({loop})", log, nexo_wall, steps, n)
    per_agent = collections.Counter(i for who in done_steps.values() for i in who)
    print(f"   completions per agent: {dict(sorted(per_agent.items()))} "
          f"({len(per_agent)} of {n} agents; fair share {steps / n:.1f})")
    print("   remote: %d commits, %d merges" % remote_counts(bare, env))
    summary("plain git", glog, git_wall, steps, n)
    print(f"   {pushed[0]} changes pushed; remote: %d commits, %d merges" % remote_counts(gbare, env))
    print(f"== ratio nexo / git wall: {nexo_wall / git_wall:.2f}")
    problems = checks(dirs, run_id, nexo, env, done_steps, steps)
    for p in problems:
        print(f"   PROBLEM: {p}")
    return nexo_wall, git_wall, problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--agents", default="4,8")
    ap.add_argument("--loop", choices=["each", "batched"], default="each")
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "fleet"))
    ap.add_argument("--nexo")
    a = ap.parse_args()
    nexo = a.nexo
    if not nexo:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        nexo = os.path.join(ROOT, "target", "release", "nexo")
    for n in [int(x) for x in a.agents.split(",")]:
        fleet(n, os.path.join(a.work, str(n)), nexo, a.loop)


if __name__ == "__main__":
    main()
