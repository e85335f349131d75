#!/usr/bin/env python3
"""Randomised multi-clone sync stress: clones with different pull settings,
nexo writes, `nexo sync` and the user's own `git pull`, all at once.

A bare remote and N clones (git's defaults, pull.rebase=true, pull.ff=only,
in turn; HOME is an empty folder so no global config applies). In each
clone two threads run at the same time: one makes random nexo writes, the
other randomly runs `nexo sync` or a plain `git pull --no-rebase` as a
user would. Afterwards every clone syncs until all agree, and the script
checks that every event a nexo command acknowledged is in every clone and
that the `.nexo/` trees are identical.

A sync may fail only with a documented, actionable message (counted by
kind); a user's plain pull may fail (git refuses while nexo holds the
index, or on diverged pull.ff=only); neither may lose an event.

With --seal-bytes N, runs a debug build whose histories are sealed into
segments from N bytes (NEXO_SEAL_BYTES), so clones also seal concurrently.

usage: benches/sync_stress.py [--clones N] [--ops N] [--seed N] [--work DIR] [--seal-bytes N]
"""
import argparse
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = [[], [("pull.rebase", "true")], [("pull.ff", "only")]]


def build_nexo(debug=False):
    if debug:
        subprocess.run(["cargo", "build", "--quiet"], cwd=ROOT, check=True)
        return os.path.join(ROOT, "target", "debug", "nexo")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "nexo")


class World:
    def __init__(self, work, clones, nexo):
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(os.path.join(work, "home"))
        self.env = dict(os.environ, HOME=os.path.join(work, "home"), GIT_CONFIG_NOSYSTEM="1")
        self.env.pop("NEXO_ACTOR", None)
        self.nexo = nexo
        self.work = work
        self.git(work, "init", "-q", "--bare", "-b", "main", "remote.git")
        self.clones = []
        for i in range(clones):
            path = os.path.join(work, f"clone{i}")
            if i == 0:
                os.makedirs(path)
                self.git(path, "init", "-q", "-b", "main")
            else:
                self.git(work, "clone", "-q", "remote.git", path)
            self.git(path, "config", "user.name", f"clone{i}")
            self.git(path, "config", "user.email", f"clone{i}@example.com")
            for key, value in MODES[i % len(MODES)]:
                self.git(path, "config", key, value)
            if i == 0:
                with open(os.path.join(path, "README.md"), "w") as f:
                    f.write("shared\n")
                self.git(path, "add", "README.md")
                self.git(path, "commit", "-q", "-m", "initial")
                self.git(path, "remote", "add", "origin", "../remote.git")
                self.git(path, "push", "-q", "-u", "origin", "main")
            self.clones.append(path)

    def run(self, cwd, *args):
        return subprocess.run(args, cwd=cwd, env=self.env, capture_output=True, text=True)

    def git(self, cwd, *args):
        out = self.run(cwd, "git", *args)
        if out.returncode != 0:
            raise RuntimeError(f"git {args}: {out.stderr}")
        return out.stdout

    def call(self, cwd, tool, fields):
        out = self.run(cwd, self.nexo, "call", tool, "--input", json.dumps(fields))
        return out.returncode, json.loads(out.stdout) if out.stdout.strip() else {}


def classify(message):
    for key in ["pull.ff=only", "conflicts in your own files", "git push failed", "held",
                "stopped before changing anything", "index is locked"]:
        if key in message:
            return key
    return "UNDOCUMENTED: " + message.strip().splitlines()[0][:120] if message.strip() else "UNDOCUMENTED"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--clones", type=int, default=3)
    p.add_argument("--ops", type=int, default=40)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default=os.path.join(ROOT, "target", "sync-stress"))
    p.add_argument("--seal-bytes", type=int, help="debug build, histories sealed from this size")
    a = p.parse_args()
    if a.seal_bytes is not None:
        os.environ["NEXO_SEAL_BYTES"] = str(a.seal_bytes)
    w = World(a.work, a.clones, build_nexo(debug=a.seal_bytes is not None))
    code, v = w.call(w.clones[0], "nexo_workflow_open", {"sid": "s", "goal": "shared", "steps": [{"key": "x"}]})
    assert code == 0, v
    run = v["run_id"]
    for c in w.clones:
        assert w.run(c, w.nexo, "sync").returncode == 0
    acked, lock = [], threading.Lock()
    outcomes = collections.Counter()
    messages = {}

    def writer(i, clone):
        rng = random.Random(a.seed * 100 + i)
        for n in range(a.ops):
            code, v = w.call(clone, "nexo_workflow_update",
                             {"run_id": run, "summary": f"clone{i} op{n}", "step_key": "x",
                              "step_status": rng.choice(["running", "completed", "blocked"])})
            with lock:
                if code == 0:
                    acked.append(v["event_id"])
                    outcomes["write ok"] += 1
                else:
                    outcomes["write refused: " + classify(v.get("error", ""))] += 1

    def syncer(i, clone):
        rng = random.Random(a.seed * 1000 + i)
        for _ in range(a.ops // 3):
            if rng.random() < 0.7:
                out = w.run(clone, w.nexo, "sync")
                key = "sync ok" if out.returncode == 0 else "sync stopped: " + classify(out.stderr)
                if out.returncode != 0:
                    messages.setdefault(key, out.stderr.strip())
            else:
                out = w.run(clone, "git", "pull", "-q", "--no-rebase", "--no-edit")
                key = "user pull ok" if out.returncode == 0 else "user pull refused by git"
                if out.returncode != 0 and os.path.exists(os.path.join(clone, ".git", "MERGE_HEAD")):
                    w.run(clone, "git", "merge", "--abort")
            with lock:
                outcomes[key] += 1

    threads = []
    for i, c in enumerate(w.clones):
        threads.append(threading.Thread(target=writer, args=(i, c)))
        threads.append(threading.Thread(target=syncer, args=(i, c)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Settle: the user finishes anything a sync left to them, then all sync.
    for _ in range(3):
        for c in w.clones:
            out = w.run(c, w.nexo, "sync")
            if out.returncode != 0 and "pull.ff=only" in out.stderr:
                w.run(c, "git", "pull", "-q", "--rebase")
                out = w.run(c, w.nexo, "sync")
            outcomes["final sync ok" if out.returncode == 0 else "final sync: " + classify(out.stderr)] += 1
    trees = {c: w.git(c, "ls-tree", "-r", "HEAD", ".nexo") for c in w.clones}
    missing = 0
    for c in w.clones:
        # The whole history: sealed segments and live file.
        files = w.git(c, "ls-tree", "-r", "--name-only", "HEAD", f".nexo/runs/{run}/").split()
        history = "".join(w.git(c, "show", f"HEAD:{f}") for f in files
                          if f.endswith("/history.jsonl") or "/history/" in f)
        missing += sum(1 for e in acked if e not in history)
    identical = len(set(trees.values())) == 1
    for k, n in sorted(outcomes.items()):
        print(f"  {n:5d}  {k}")
    for k, m in messages.items():
        print(f"  first '{k}':\n    " + m.replace("\n", "\n    "))
    print(f"clones: {a.clones}; acknowledged events: {len(acked)}; missing in some clone: {missing}; "
          f".nexo/ trees identical: {identical}")
    bad = missing or not identical or any(k.startswith(("final sync:", "write refused: UNDOC", "sync stopped: UNDOC"))
                                            for k in outcomes)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
