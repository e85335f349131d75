#!/usr/bin/env python3
"""Benchmark: one `nexo call nexo_workflow_update` in a large repository.

Builds (once, cached under --work) a git repository with 100,000 tracked
files and 1,000 nexo runs, then times whole processes, start to commit
written:

  nexo   `nexo call nexo_workflow_update --input '{...}'`
  git    the same change made by a script that writes the files and runs
         `git add` + `git commit -- <paths>` (what a naive tool would do)

Prints the median, mean, p90 and min of each in milliseconds and the ratio.
Usage: benches/commit_bench.py [--files N] [--runs N] [--iterations N] [--work DIR]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(args, cwd, **kw):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, text=True, **kw).stdout


def build_nexo():
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    return os.path.join(ROOT, "target", "release", "nexo")


def make_repo(path, files, runs, nexo):
    stamp = os.path.join(path, ".git", "bench-ready")
    if os.path.exists(stamp):
        return
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    sh(["git", "init", "-q", "-b", "main"], path)
    sh(["git", "config", "user.name", "Bench"], path)
    sh(["git", "config", "user.email", "bench@example.com"], path)
    # 100 folders of 1,000 files each, a few lines apiece, like source code.
    per_dir = 1000
    for i in range(files):
        d = os.path.join(path, "src", f"mod{i // per_dir:03d}")
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"file{i % per_dir:04d}.rs"), "w") as f:
            f.write(f"// file {i}\npub fn f{i}() -> u32 {{ {i} }}\n")
    sh(["git", "add", "-A"], path)
    sh(["git", "commit", "-q", "-m", "large tree"], path)
    # The runs, written without committing, then committed at once.
    for i in range(runs):
        steps = json.dumps([{"key": "build", "title": "Build"}, {"key": "test", "title": "Test"}, {"key": "ship", "title": "Ship"}])
        sh([nexo, "--no-commit", "call", "nexo_workflow_open", "--input",
            json.dumps({"sid": "bench", "goal": f"run {i}", "steps": steps})], path)
    sh(["git", "add", "-A", ".nexo"], path)
    sh(["git", "commit", "-q", "-m", "runs"], path)
    # A pending-list file may remain from --no-commit; the commit above made it moot.
    pending = os.path.join(path, ".git", "nexo-pending")
    if os.path.exists(pending):
        os.remove(pending)
    open(stamp, "w").close()
    sh(["git", "update-index", "--refresh"], path)


def time_runs(cmd, cwd, iterations, before=None):
    """Times `cmd` as a whole process, spawned directly (posix_spawn, no
    shell); `before` runs untimed before each."""
    # Start every scenario with no write-back pending from the previous one.
    os.sync()
    time.sleep(1)
    samples = []
    devnull = os.open(os.devnull, os.O_WRONLY)
    exe = shutil.which(cmd[0]) or cmd[0]
    old = os.getcwd()
    os.chdir(cwd)
    try:
        for i in range(iterations):
            if before:
                before()
            c = [a.replace("{i}", str(i)) for a in cmd]
            t = time.perf_counter()
            pid = os.posix_spawn(exe, c, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
            _, status = os.waitpid(pid, 0)
            samples.append((time.perf_counter() - t) * 1000)
            if os.waitstatus_to_exitcode(status) != 0:
                raise SystemExit(f"{c} failed")
    finally:
        os.chdir(old)
        os.close(devnull)
    return samples


def summary(name, s):
    s = sorted(s)
    p90 = s[int(len(s) * 0.9) - 1]
    print(f"{name:<15} median {statistics.median(s):8.2f} ms   mean {statistics.mean(s):8.2f}   p90 {p90:8.2f}   min {s[0]:8.2f}   (n={len(s)})")
    return statistics.median(s)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=1_000)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench-repo"))
    ap.add_argument("--skip-hash", action="store_true", help="also time with index.skipHash=true")
    a = ap.parse_args()

    nexo = build_nexo()
    repo = os.path.abspath(a.work)
    t = time.perf_counter()
    make_repo(repo, a.files, a.runs, nexo)
    print(f"repository: {repo} ({a.files} files, {a.runs} runs; ready in {time.perf_counter() - t:.1f}s)")
    runs = sorted(os.listdir(os.path.join(repo, ".nexo", "runs")))
    run_id = runs[len(runs) // 2]
    git_run = runs[len(runs) // 2 + 1]

    # Warm the page cache the same way for both.
    sh(["git", "status", "--porcelain"], repo)

    def update(run, extra=()):
        return [nexo, *extra, "call", "nexo_workflow_update", "--input",
                json.dumps({"run_id": run, "step_key": "build", "summary": "iteration {i}"})]

    index = os.path.join(repo, ".git", "index")
    results = {}
    # The harness's own cost of starting a process and waiting for it.
    results["spawn-only"] = time_runs(["true"], repo, a.iterations)
    results["nexo"] = time_runs(update(run_id), repo, a.iterations)
    # Another git command rewrote the index since nexo's last write, so
    # nexo re-verifies the old index's checksum (simulated by touching it).
    results["nexo-after-git"] = time_runs(update(run_id), repo, a.iterations, before=lambda: os.utime(index))
    results["resume"] = time_runs([nexo, "call", "nexo_workflow_resume", "--input", json.dumps({"run_id": run_id})], repo, a.iterations)
    results["no-commit"] = time_runs(update(run_id, ["--no-commit"]), repo, a.iterations)
    sh([nexo, "commit"], repo)

    rel = f".nexo/runs/{git_run}"
    script = f"""set -e
id=$(printf '01%024d' "$(( $$ * 100000 + $1 ))")
printf '{{"v":1,"id":"%s","clock":%d,"parents":[],"at":"2026-01-01T00:00:00.000Z","actor":"bench","type":"updated","data":{{"summary":"iteration %s"}}}}\\n' "$id" "$((100000 + $1))" "$1" >> {rel}/history.jsonl
printf 'summary: iteration %s\\n' "$1" > {rel}/run.yaml
printf 'summary: iteration %s\\n' "$1" > {rel}/steps/build.yaml
git add -- {rel}/history.jsonl {rel}/run.yaml {rel}/steps/build.yaml
git commit -q -m "update $1" -- {rel}/history.jsonl {rel}/run.yaml {rel}/steps/build.yaml
"""
    results["git-cli"] = time_runs(["bash", "-c", script, "bench", "{i}"], repo, a.iterations)

    if a.skip_hash:
        sh(["git", "config", "index.skipHash", "true"], repo)
        sh(["git", "update-index", "--really-refresh"], repo)
        results["nexo-skiphash"] = time_runs(update(run_id), repo, a.iterations)
        sh(["git", "config", "--unset", "index.skipHash"], repo)
        sh(["git", "update-index", "--really-refresh"], repo)

    head = sh(["git", "status", "--porcelain"], repo)
    assert head == "", f"benchmark left the tree dirty:\n{head}"

    print(f"date: {time.strftime('%Y-%m-%d')}  cpus: {os.cpu_count()}  git: {sh(['git', '--version'], repo).strip()}")
    print(f"index: {os.path.getsize(index)} bytes")
    medians = {name: summary(name, samples) for name, samples in results.items()}
    print(f"ratio    git-cli / nexo = {medians['git-cli'] / medians['nexo']:.1f}x")
    print(f"nexo minus spawn-only: {medians['nexo'] - medians['spawn-only']:.2f} ms")


if __name__ == "__main__":
    sys.exit(main())
