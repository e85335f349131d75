#!/usr/bin/env python3
"""Scale benchmark: does a command's cost grow with a run's history or the
number of runs? Builds its repositories itself (synthetic histories in the
documented format, docs/format.md), then times whole `nexo` processes,
interleaved round by round, against a repository holding one small run:

  resume / update on a run with --events events (default 100,000);
  list / update with --runs runs (default 10,000);
  list / ready over 1,000 open runs whose steps run side by side, and ready
  over the --runs runs (ratios of ready are to list in the same repository);
  the peak resident memory of each process (from wait4).

Prints each case's median and its ratio to the small-run baseline.

With --nexo PATH (repeatable), measures those binaries instead of this
checkout's release build, interleaved round by round: an A/B of two builds.

With --fleet (issue 36): --runs runs, all but 1,000 closed, the 1,000 open
with three steps side by side, written in layout 1 and upgraded by `doctor
--fix` (timed), against a one-run repository: update time and bytes of new
git objects per update, list, list --all --limit 20, ready, doctor, and the
peak memory of each.

usage: benches/scale.py [--events N] [--runs N] [--iterations N] [--work DIR] [--nexo PATH]...
       benches/scale.py --fleet --runs 100000 [--iterations N] [--verbs 'list,ready']
"""
import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sh(args, cwd, check=True):
    return subprocess.run(args, cwd=cwd, check=check, capture_output=True, text=True)


CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def run_id(kind, n):
    """A run id as nexo mints them: 16 uniform Crockford characters (a
    digest of kind and n), so runs spread over the fan-out folders."""
    digest = int.from_bytes(hashlib.sha256(f"{kind}-{n}".encode()).digest()[:10], "big")
    return "WF-" + "".join(CROCKFORD[(digest >> (5 * i)) & 31] for i in range(15, -1, -1))


def event_id(n):
    # 26 Crockford base32 characters; digits are enough and sort with n.
    return "01" + f"{n:024d}"


def line(n, parents, body_type, data, clock=None):
    return json.dumps({
        "v": 2, "id": event_id(n), "clock": clock or n, "parents": parents,
        "at": "2026-11-27T10:00:00.000Z", "actor": "bench", "type": body_type, "data": data,
    }, separators=(",", ":"))


def opened(n, run_id, steps):
    return line(n, [], "opened", {
        "run_id": run_id, "sid": "bench", "goal": f"goal of {run_id}", "priority": "normal",
        "workflow_kind": "general",
        "steps": [{"key": f"s{k}", "title": f"Step {k}"} for k in range(steps)],
    })


def opened_graph(n, run_id):
    # s2 needs s0 and s1: two steps ready side by side (schema 6).
    e = json.loads(opened(n, run_id, 3))
    e["v"] = 6
    e["data"]["steps"][2]["needs"] = ["s0", "s1"]
    return json.dumps(e, separators=(",", ":"))


def git_repo(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    sh(["git", "init", "-q", "-b", "main"], path)
    sh(["git", "config", "user.name", "Bench"], path)
    sh(["git", "config", "user.email", "bench@example.com"], path)
    with open(os.path.join(path, "README.md"), "w") as f:
        f.write("bench\n")


def write_run(path, run_id, lines, layout=2):
    """Writes a history where nexo keeps it: `.nexo/runs/<c>/<c>/<id>/`
    (layout 2), or `.nexo/runs/<id>/` (layout 1, which nexo upgrades)."""
    body = run_id[3:]
    fan = [] if layout == 1 else [body[0], body[1]]
    d = os.path.join(path, ".nexo", "runs", *fan, run_id)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "history.jsonl"), "w") as f:
        f.write("\n".join(lines) + "\n")


def commit_all(path, nexo):
    sh(["git", "add", "-A"], path)
    sh(["git", "commit", "-q", "-m", "bench"], path)
    # Views are regenerated (and committed) once, untimed.
    sh([nexo, "doctor", "--fix"], path, check=False)
    sh([nexo, "list"], path)


def build(work, nexo, events, runs):
    """The four repositories, written in layout 1, which every nexo reads:
    a binary from before layout 2 (issue 36) measures them as they are, a
    later one upgrades them in commit_all's untimed `doctor --fix`."""
    stamp = os.path.join(work, f"built-{events}-{runs}-open-layout1")
    if os.path.exists(stamp):
        # Reused: reset each repository to its first commit's state.
        for name in ("small", "long", "many", "open"):
            path = os.path.join(work, name)
            sh(["git", "reset", "-q", "--hard", "bench-start"], path)
            sh(["git", "clean", "-qfdx"], path)
        return
    shutil.rmtree(work, ignore_errors=True)
    small = os.path.join(work, "small")
    git_repo(small)
    write_run(small, "WF-SMALL0000000000A", [opened(1, "WF-SMALL0000000000A", 5)], layout=1)
    commit_all(small, nexo)

    long = os.path.join(work, "long")
    git_repo(long)
    rid = "WF-LONG00000000000A"
    lines = [opened(1, rid, 5)]
    statuses = ["running", "completed", "pending"]
    for n in range(2, events + 1):
        lines.append(line(n, [event_id(n - 1)], "updated", {
            "step_key": f"s{n % 5}", "step_status": statuses[n % 3],
            "summary": f"progress note number {n}, with a few words of detail",
        }))
    write_run(long, rid, lines, layout=1)
    commit_all(long, nexo)

    many = os.path.join(work, "many")
    git_repo(many)
    for r in range(runs):
        rid = run_id("many", r)
        write_run(many, rid, [
            opened(1, rid, 3),
            line(2, [event_id(1)], "updated", {"step_key": "s0", "step_status": "running"}),
        ], layout=1)
    commit_all(many, nexo)

    # 1,000 open runs whose steps can run side by side: what `ready` reads.
    ready = os.path.join(work, "open")
    git_repo(ready)
    for r in range(1000):
        rid = run_id("open", r)
        write_run(ready, rid, [opened_graph(1, rid)], layout=1)
    commit_all(ready, nexo)
    for name in ("small", "long", "many", "open"):
        sh(["git", "tag", "-f", "bench-start"], os.path.join(work, name))
    open(stamp, "w").close()


def run_once(cmd, cwd, check=True):
    """Wall time (ms) and peak resident memory (MB) of one process."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    old = os.getcwd()
    os.chdir(cwd)
    try:
        t = time.perf_counter()
        pid = os.posix_spawn(cmd[0], cmd, os.environ, file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
        _, status, usage = os.wait4(pid, 0)
        ms = (time.perf_counter() - t) * 1000
    finally:
        os.chdir(old)
        os.close(devnull)
    if check and os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed in {cwd}")
    return ms, usage.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "scale"))
    ap.add_argument("--measure-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rebuild", action="store_true", help="remake the repositories")
    ap.add_argument("--nexo", action="append", help="a binary to measure (repeat for an A/B)")
    ap.add_argument("--fleet", action="store_true",
                    help="only the --runs case of mostly closed runs, against one run (issue 36)")
    ap.add_argument("--verbs", help="with --fleet, only these rows, comma-separated "
                    "(e.g. 'list,list --all --limit 20,ready': reads only, the repository unchanged)")
    ap.add_argument("--index", choices=["whole", "split"], default="whole",
                    help="with --fleet, git's index in both repositories: written whole (git's "
                    "default) or split (core.splitIndex, git's remedy for large indexes)")
    a = ap.parse_args()
    if not a.measure_only and not a.nexo:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binaries = a.nexo or [os.path.join(ROOT, "target", "release", "nexo")]
    if not a.measure_only:
        if a.rebuild:
            shutil.rmtree(a.work, ignore_errors=True)
        # Each binary gets repositories of its own: two builds' caches in
        # one git directory would keep replacing each other's entries.
        for i, b in enumerate(binaries):
            if a.fleet:
                build_small(a.work, b)
                build_fleet(a.work, b, a.runs)
                continue
            build(work_of(a.work, i, binaries), b, a.events, a.runs)
        # Measure from a fresh, small process: posix_spawn shares this
        # one's memory until exec, and Linux counts it in the child's peak.
        args = [sys.executable, __file__, "--measure-only", "--iterations", str(a.iterations),
                "--events", str(a.events), "--runs", str(a.runs), "--work", a.work]
        if a.fleet:
            args.append("--fleet")
        if a.verbs:
            args += ["--verbs", a.verbs]
        args += ["--index", a.index]
        for b in binaries:
            args += ["--nexo", b]
        raise SystemExit(subprocess.run(args).returncode)
    if a.fleet:
        fleet_report(a, binaries[0])
    else:
        measure(a, binaries)


def work_of(work, i, binaries):
    return os.path.join(work, str(i)) if len(binaries) > 1 else work


def measure(a, binaries):
    cases = {}
    for i, nexo in enumerate(binaries):
        work = work_of(a.work, i, binaries)
        small, long, many, ready = (os.path.join(work, n) for n in ("small", "long", "many", "open"))
        tag = f" [{i}]" if len(binaries) > 1 else ""
        upd = lambda rid: [nexo, "update", rid, "s1", "--summary", "bench"]
        cases.update({
            f"resume small{tag}": ([nexo, "resume", "WF-SMALL0000000000A"], small),
            f"resume long{tag}": ([nexo, "resume", "WF-LONG00000000000A"], long),
            f"update small{tag}": (upd("WF-SMALL0000000000A"), small),
            f"update long{tag}": (upd("WF-LONG00000000000A"), long),
            f"list small{tag}": ([nexo, "list"], small),
            f"list many{tag}": ([nexo, "list"], many),
            f"update many{tag}": (upd(run_id("many", 7)), many),
            f"list open{tag}": ([nexo, "list"], ready),
            f"ready open{tag}": ([nexo, "ready"], ready),
            f"ready many{tag}": ([nexo, "ready"], many),
        })
    times = {k: [] for k in cases}
    peak = {k: 0.0 for k in cases}
    for _ in range(2):  # warm-up: caches, page cache, first refresh
        for cmd, cwd in cases.values():
            run_once(cmd, cwd)
    for _ in range(a.iterations):
        for name, (cmd, cwd) in cases.items():
            ms, mb = run_once(cmd, cwd)
            times[name].append(ms)
            peak[name] = max(peak[name], mb)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"{a.events} events, {a.runs} runs, {a.iterations} interleaved rounds")
    for i, nexo in enumerate(binaries):
        if len(binaries) > 1:
            print(f"[{i}] {nexo}")
    for name in cases:
        verb, _, tag = name.partition(" ")
        # `ready` is held to `list` in the same repository.
        base = med.get(f"list {tag}") if verb == "ready" else None
        base = base or med[f"{verb} small{tag[tag.find(' '):] if ' ' in tag else ''}"]
        ratio = med[name] / base
        print(f"{name:<18} median {med[name]:8.2f} ms  {ratio:6.1f}x   peak {peak[name]:7.1f} MB")


def loose_bytes(repo):
    """Bytes of loose objects in `repo`'s git directory."""
    objects = os.path.join(repo, ".git", "objects")
    total = 0
    for d in os.listdir(objects):
        if len(d) == 2:
            for f in os.listdir(os.path.join(objects, d)):
                total += os.path.getsize(os.path.join(objects, d, f))
    return total


def build_small(work, nexo):
    small = os.path.join(work, "small")
    if not os.path.exists(os.path.join(small, ".git")):
        git_repo(small)
        write_run(small, "WF-SMALL0000000000A", [opened(1, "WF-SMALL0000000000A", 5)])
        commit_all(small, nexo)


def build_fleet(work, nexo, runs):
    """`runs` runs, all but 1,000 completed, 1,000 open with three steps
    that run side by side; written in layout 1 and upgraded by `nexo
    doctor --fix`, timed (the migration). Returns its time and peak."""
    fleet = os.path.join(work, f"fleet-{runs}")
    stamp = fleet + ".built"
    if os.path.exists(stamp):
        with open(stamp) as f:
            return fleet, json.load(f)
    git_repo(fleet)
    for r in range(runs):
        rid = run_id("fleet", r)
        if r < 1000:
            write_run(fleet, rid, [opened_graph(1, rid)], layout=1)
        else:
            write_run(fleet, rid, [
                opened(1, rid, 3),
                line(2, [event_id(1)], "updated", {"step_key": "s0", "step_status": "completed"}),
                line(3, [event_id(2)], "updated", {"run_status": "completed"}),
            ], layout=1)
    # git's automatic gc would start packing the 100,000 new loose
    # objects in the background as the commit ends, racing the timed
    # migration for both cores. A user's repository of this size has long
    # been packed by it: pack first, untimed, and let the written pages
    # reach the disk.
    sh(["git", "config", "gc.auto", "0"], fleet)
    sh(["git", "add", "-A"], fleet)
    sh(["git", "commit", "-q", "-m", "bench"], fleet)
    sh(["git", "gc", "-q"], fleet)
    os.sync()
    migrate = run_once([nexo, "doctor", "--fix"], fleet, check=False)
    fix = run_once([nexo, "doctor", "--fix"], fleet, check=False)
    sh([nexo, "list"], fleet)
    sh(["git", "tag", "-f", "bench-start"], fleet)
    figures = {"migrate": migrate, "views": fix}
    with open(stamp, "w") as f:
        json.dump(figures, f)
    return fleet, figures


def fleet_report(a, nexo):
    """The --runs case side by side with a one-run repository: update
    time, bytes of new objects per update, list, ready, doctor, peaks."""
    small = os.path.join(a.work, "small")
    fleet, built = build_fleet(a.work, nexo, a.runs)
    open_id = run_id("fleet", 3)
    ids = {"small": "WF-SMALL0000000000A", "fleet": open_id}
    repos = {"small": small, "fleet": fleet}
    for repo in repos.values():
        split = a.index == "split"
        sh(["git", "config", "core.splitIndex", "true" if split else "false"], repo)
        sh(["git", "update-index", "--split-index" if split else "--no-split-index"], repo)
    rows = {}
    for verb, cmd, rounds in [
        ("update", lambda k: [nexo, "update", ids[k], "s1", "--summary", "bench"], a.iterations),
        ("list", lambda k: [nexo, "list"], a.iterations),
        ("list --all --limit 20", lambda k: [nexo, "list", "--all", "--limit", "20"], a.iterations),
        ("ready", lambda k: [nexo, "ready"], a.iterations),
        # A run opened just before: the runs folders changed behind the
        # summaries index's back (the open itself is not timed).
        ("list after open", lambda k: [nexo, "list"], a.iterations),
        ("doctor", lambda k: [nexo, "doctor"], 3),
    ]:
        if a.verbs and verb not in a.verbs.split(","):
            continue
        before_each = None
        if verb == "list after open":
            before_each = lambda k: run_once([nexo, "open", "bench probe", "-s", "a"], repos[k])
        for k in repos:
            run_once(cmd(k), repos[k], check=False)
        times = {k: [] for k in repos}
        peaks = {k: 0.0 for k in repos}
        grew = {k: [] for k in repos}
        for _ in range(rounds):
            for k in repos:
                if before_each:
                    before_each(k)
                before = loose_bytes(repos[k]) if verb == "update" else 0
                ms, mb = run_once(cmd(k), repos[k], check=False)
                if verb == "update":
                    grew[k].append(loose_bytes(repos[k]) - before)
                times[k].append(ms)
                peaks[k] = max(peaks[k], mb)
        rows[verb] = (times, peaks, grew)
    print(f"{a.runs} runs (1,000 open, 3 steps side by side), {a.iterations} interleaved rounds,"
          f" git's index {a.index}")
    m, f = built["migrate"], built["views"]
    print(f"upgrade from layout 1 (doctor --fix): {m[0] / 1000:.1f} s, peak {m[1]:.1f} MB;"
          f" then doctor --fix: {f[0] / 1000:.1f} s, peak {f[1]:.1f} MB")
    print(f"{'':<22}{'one run':>12}{a.runs:>10} runs{'ratio':>8}   peak one / many")
    for verb, (times, peaks, grew) in rows.items():
        one, many = (statistics.median(times[k]) for k in ("small", "fleet"))
        print(f"{verb:<22}{one:>9.1f} ms{many:>11.1f} ms{many / one:>7.1f}x"
              f"   {peaks['small']:6.1f} / {peaks['fleet']:6.1f} MB")
        if verb == "update":
            gs, gf = (statistics.median(grew[k]) / 1024 for k in ("small", "fleet"))
            print(f"{'  new objects/update':<22}{gs:>9.1f} KB{gf:>11.1f} KB")
    if not a.verbs:
        fleet_peaks(nexo, repos, ids)


def drop_summaries(repo):
    """The summaries index removed: the next read of it rebuilds it."""
    cache = os.path.join(repo, ".git", "nexo-cache")
    for name in ("summaries", "summaries-closed", "summaries-folders"):
        try:
            os.remove(os.path.join(cache, name))
        except FileNotFoundError:
            pass


def quick_record(nexo, repo):
    """A run opened, then a `list` once its folder is two seconds old:
    that read records the new folder stamps without reading every run,
    so the next read of every run cannot trust the closed part."""
    run_once([nexo, "open", "bench probe", "-s", "a"], repo)
    time.sleep(2.5)
    run_once([nexo, "list"], repo)


def fleet_peaks(nexo, repos, ids):
    """Every other command once per round, three rounds, side by side:
    the issue's limit is 64 MB for every command at this size."""
    rows = [
        ("list --status completed", None, lambda k: [nexo, "list", "--status", "completed"]),
        ("  index rebuilt", drop_summaries, lambda k: [nexo, "list", "--status", "completed"]),
        ("  after a quick record", lambda r: quick_record(nexo, r),
         lambda k: [nexo, "list", "--all", "--limit", "20"]),
        ("goal list", None, lambda k: [nexo, "goal", "list"]),
        ("archive --dry-run", None,
         lambda k: [nexo, "archive", "--closed-before", "1d", "--dry-run"]),
        ("list --branches", None, lambda k: [nexo, "list", "--branches"]),
        ("verify", None, lambda k: [nexo, "verify"]),
        ("events", None, lambda k: [nexo, "events"]),
        ("prime", None, lambda k: [nexo, "prime"]),
        ("resume", None, lambda k: [nexo, "resume", ids[k]]),
        ("show", None, lambda k: [nexo, "show", ids[k]]),
        ("commit (nothing)", None, lambda k: [nexo, "commit"]),
    ]
    print("every other command, 3 rounds:   one run         many   peak one / many")
    for label, prepare, cmd in rows:
        times = {k: [] for k in repos}
        peaks = {k: 0.0 for k in repos}
        for _ in range(3):
            for k in repos:
                if prepare:
                    prepare(repos[k])
                ms, mb = run_once(cmd(k), repos[k], check=False)
                times[k].append(ms)
                peaks[k] = max(peaks[k], mb)
        one, many = (statistics.median(times[k]) for k in ("small", "fleet"))
        print(f"{label:<26}{one:>9.1f} ms{many:>11.1f} ms"
              f"   {peaks['small']:6.1f} / {peaks['fleet']:6.1f} MB")


if __name__ == "__main__":
    main()
