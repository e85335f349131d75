#!/usr/bin/env python3
"""Peak memory and time of every command on one long run (issue 36).

Builds (once, in a process of its own, so that this one stays small: a
child's peak is measured from wait4, and Linux counts into it the memory
of the process that spawned it) a repository with one run of --events
events written in the documented format (docs/format.md), pushed to a bare
remote; then runs each command cold (`.git/nexo-cache` removed first) and
prints its wall time and peak resident memory, nexo's and every git it
runs.

usage: benches/memory.py [--events N] [--work DIR] [--nexo PATH]
"""
import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scale  # noqa: E402

RUN = "WF-LONG00000000000A"


def build(work, nexo, events):
    repo = os.path.join(work, "long")
    scale.git_repo(repo)
    lines = [scale.opened(1, RUN, 5)]
    statuses = ["running", "completed", "pending"]
    for n in range(2, events + 1):
        lines.append(scale.line(n, [scale.event_id(n - 1)], "updated", {
            "step_key": f"s{n % 5}", "step_status": statuses[n % 3],
            "summary": f"progress note number {n}, with a few words of detail",
        }))
    scale.write_run(repo, RUN, lines)
    scale.commit_all(repo, nexo)
    bare = repo + ".git"
    shutil.rmtree(bare, ignore_errors=True)
    subprocess.run(["git", "init", "-q", "--bare", bare], check=True)
    scale.sh(["git", "remote", "add", "origin", bare], repo)
    scale.sh(["git", "push", "-q", "-u", "origin", "main"], repo)


COMMANDS = [
    ["resume", RUN], ["get", RUN], ["show", RUN], ["replay", RUN],
    ["list"], ["ready"], ["prime"], ["archive", "--dry-run"],
    ["update", RUN, "s1", "--status", "running", "--summary", "measured"],
    ["sync"], ["doctor"], ["doctor", "--fix"], ["verify", "--trusted", "HEAD"],
    ["events"],
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--work", default=os.path.join(scale.ROOT, "target", "bench-memory"))
    ap.add_argument("--nexo", default=os.path.join(scale.ROOT, "target", "release", "nexo"))
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    stamp = os.path.join(a.work, f"built-{a.events}")
    if a.build_only:
        build(a.work, a.nexo, a.events)
        open(stamp, "w").close()
        return
    if not os.path.exists(stamp):
        os.makedirs(a.work, exist_ok=True)
        subprocess.run([sys.executable, __file__, "--build-only", "--events", str(a.events),
                        "--work", a.work, "--nexo", a.nexo], check=True)
    repo = os.path.join(a.work, "long")
    print(f"{'command':28s} {'wall':>9s} {'peak':>9s}")
    for cmd in COMMANDS:
        shutil.rmtree(os.path.join(repo, ".git", "nexo-cache"), ignore_errors=True)
        ms, mb = scale.run_once([a.nexo] + cmd, repo, check=False)
        print(f"{' '.join(cmd[:2])[:28]:28s} {ms:7.0f} ms {mb:6.1f} MB", flush=True)


if __name__ == "__main__":
    main()
