//! `NEXO_TRACE=1`: milestones with the time since the process started, on
//! standard error. For finding where a slow command spends its time; off
//! (one cached environment lookup) otherwise.

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
        eprintln!(
            "nexo-trace {:>8.3} ms  {what}",
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
}
