//! Diagnostics. `NEXO_TRACE=1`: milestones with the time since the process
//! started, on standard error, for finding where a slow command spends its
//! time. `NEXO_CRASH_AT=<point>` (debug builds only): kill the process at
//! that point, so tests can check what a crash halfway leaves behind. Both cost one cached
//! environment lookup when unset.
//!
//! The ground floor: imports nothing of nexo, and any room may use it.

use std::sync::OnceLock;
use std::time::Instant;

fn start() -> Option<&'static Instant> {
    static START: OnceLock<Option<Instant>> = OnceLock::new();
    START
        .get_or_init(|| std::env::var_os("NEXO_TRACE").map(|_| Instant::now()))
        .as_ref()
}

/// Starts the clock; call first thing in `main`.
pub fn init() {
    let _ = start();
}

pub fn mark(what: &str) {
    if let Some(t) = start() {
        let kb = |key| resident_kb(key).map_or("?".to_string(), |kb| kb.to_string());
        eprintln!(
            "nexo-trace {:>8.3} ms {:>7} KB (peak {:>7} KB)  {what}",
            t.elapsed().as_secs_f64() * 1000.0,
            kb("VmRSS:"),
            kb("VmHWM:"),
        );
    }
}

/// The process's resident memory (Linux; `VmRSS:` now, `VmHWM:` its
/// peak so far), for tracing where a command's peak comes from.
fn resident_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Aborts the process here if `NEXO_CRASH_AT` names this point: a test
/// hook for the write path, honoured only in debug builds (what `cargo
/// test` runs), so an installed nexo never reads it.
#[cfg(debug_assertions)]
pub fn crash_point(point: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    if AT
        .get_or_init(|| std::env::var("NEXO_CRASH_AT").ok())
        .as_deref()
        == Some(point)
    {
        // SIGKILL, like `kill -9`: no destructor, no lock released by us.
        // SAFETY: `getpid` and `kill` take and return plain integers and
        // touch no memory of ours; signalling our own process is always
        // allowed.
        #[cfg(unix)]
        #[allow(unsafe_code)]
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        std::process::abort();
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn crash_point(_: &str) {}

/// Pauses here if `NEXO_PAUSE_AT` names this point (debug builds only):
/// creates the file `NEXO_PAUSE_FILE` and waits, up to a minute, until it
/// is removed. Lets a test run another command at an exact point of a
/// write, such as a user's `git pull` between reading and committing.
#[cfg(debug_assertions)]
pub fn pause_point(point: &str) {
    if std::env::var("NEXO_PAUSE_AT").ok().as_deref() != Some(point) {
        return;
    }
    let Some(file) = std::env::var_os("NEXO_PAUSE_FILE") else {
        return;
    };
    let file = std::path::PathBuf::from(file);
    let _ = std::fs::write(&file, point);
    let start = Instant::now();
    while file.exists() && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn pause_point(_: &str) {}

/// Now, as nexo writes times (RFC 3339 UTC, milliseconds): the moment
/// claims are judged at.
pub fn now_text() -> String {
    now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The time now, in Unix milliseconds. In debug builds `NEXO_TEST_NOW`
/// (Unix milliseconds) fixes it, so a test harness can give every command
/// a time of its own and snapshots need no redaction of times.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("NEXO_TEST_NOW")
        .ok()
        .and_then(|v| v.parse::<i64>().ok())
        && let Some(t) = chrono::DateTime::from_timestamp_millis(ms)
    {
        return t;
    }
    chrono::Utc::now()
}

/// `NEXO_TEST_FLAT_LAYOUT=1` (debug builds only): write runs where a
/// nexo of layout 1 did, flat in `.nexo/runs/`, and never upgrade them, so
/// tests can make the repositories an older nexo left.
pub fn flat_layout() -> bool {
    #[cfg(debug_assertions)]
    {
        static FLAT: OnceLock<bool> = OnceLock::new();
        *FLAT.get_or_init(|| std::env::var_os("NEXO_TEST_FLAT_LAYOUT").is_some())
    }
    #[cfg(not(debug_assertions))]
    {
        false
    }
}

/// In debug builds, `NEXO_TEST_SEED`: ids come from a generator seeded by
/// it instead of the system's random source, so a harness that gives each
/// command a seed of its own gets the same ids on every run.
pub fn test_seed() -> Option<u64> {
    #[cfg(debug_assertions)]
    {
        std::env::var("NEXO_TEST_SEED").ok()?.parse().ok()
    }
    #[cfg(not(debug_assertions))]
    {
        None
    }
}

/// `NEXO_TEST_PER_FILE_MOVES=1` (debug builds only): the layout upgrade
/// commits every file it moves one by one, as it did before folders were
/// moved whole, so a test can compare the two.
pub fn per_file_moves() -> bool {
    #[cfg(debug_assertions)]
    {
        std::env::var_os("NEXO_TEST_PER_FILE_MOVES").is_some()
    }
    #[cfg(not(debug_assertions))]
    {
        false
    }
}

/// In debug builds, `NEXO_TEST_THREADS_FROM`: from how many records
/// `doctor` checks them on more than one thread (`default` otherwise), so a
/// test of a few runs takes the path a large repository takes.
pub fn threads_from(default: usize) -> usize {
    test_size("THREADS_FROM", default)
}

/// In debug builds, `NEXO_TEST_<NAME>`: a size a test sets small, so that
/// a few runs take the path 100,000 take (`default` otherwise).
pub fn test_size(name: &str, default: usize) -> usize {
    #[cfg(debug_assertions)]
    if let Some(n) = std::env::var(format!("NEXO_TEST_{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    let _ = name;
    default
}
