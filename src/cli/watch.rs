//! `nexo watch`: a long-running feed of what happens to runs, one line
//! each (`nexo events`, again and again), optionally running a command
//! for each. Where it stopped is kept under `.git/` (`core::feed::
//! WatchState`), so a restart neither repeats nor skips an item.

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::Ctx;
use nexo::api::Flow;
use nexo::api::Nexo;
use nexo::core::error::{Error, Result};
use nexo::core::feed::{Cursor, Item, Pending, WatchState, watch_name};
use nexo::core::model::FeedKind;
use nexo::wire::feed::FeedFilter;

/// How often this clone is looked at for new events.
const POLL: Duration = Duration::from_secs(1);

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo watch --sync --on gate_requested --exec notify-send \"nexo: a gate waits\"\n  nexo watch --run WF-7K2D --json\n  nexo watch --on step_failed,claim_expired --exec sh -c 'curl -s -d @- \"$HOOK_URL\"'\n--exec takes the rest of the line: the program and its arguments, run directly (no shell unless\nyou write one), with the event's JSON on standard input and NEXO_EVENT_KIND, NEXO_RUN_ID,\nNEXO_STEP_KEY, NEXO_EVENT_ID, NEXO_SUMMARY set. A command that fails or outlives\n--exec-timeout is reported (and killed) and the watch goes on. Ctrl-C or SIGTERM stop it after\nthe item in hand; the next start takes up from there."
)]
pub struct Args {
    /// Also watch the git remote: pull when its tip moves (asked without fetching, 1s doubling
    /// to 16s while idle).
    #[arg(long)]
    pub sync: bool,
    /// Only this run (an id or unique prefix).
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Only these kinds, comma-separated: gate_requested, gate_decided, step_failed,
    /// claim_expired, run_completed, run_blocked.
    #[arg(long, value_name = "KIND,...", value_delimiter = ',')]
    pub on: Vec<FeedKind>,
    /// How long one --exec may run before it is killed (90s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub exec_timeout: String,
    /// Run this program for each item, with the rest of the line as its arguments.
    #[arg(long, value_name = "PROGRAM ARGS", num_args = 1.., allow_hyphen_values = true)]
    pub exec: Vec<String>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let n = ctx.nexo()?;
    let run_id = match &a.run {
        Some(given) => Some(n.store().resolve(given)?),
        None => None,
    };
    let exec_timeout = Duration::from_secs(nexo::core::claim::parse_ttl(
        "--exec-timeout",
        &a.exec_timeout,
    )?);
    let filter = FeedFilter {
        run_id: run_id.clone(),
        kinds: a.on.clone(),
    };
    let name = watch_name(run_id.as_deref(), &a.on);
    let stop = stop_on_signal()?;
    let mut state = match n
        .repo()
        .watch_state(&name)
        .map(|t| serde_json::from_str(&t))
    {
        Some(Ok(state)) => state,
        Some(Err(_)) | None => {
            let state = WatchState {
                cursor: n.cursor_now()?.to_string(),
                pending: None,
            };
            // Recorded at once: a watch stopped before its first item
            // takes up from here, not from its next start.
            save(&n, &name, &state)?;
            state
        }
    };
    let mut remote = match a.sync {
        true => Some(n.remote_watch()?),
        false => None,
    };
    while !stop.load(Ordering::SeqCst) {
        if let Some(remote) = &mut remote
            && let Err(e) = remote.poll(&n)
        {
            // The network comes and goes; the watch stays.
            eprintln!(
                "nexo: watch: cannot look at the remote: {}",
                e.message_with_causes()
            );
        }
        if state.pending.is_none() {
            state.pending = Some(Pending {
                to: n.cursor_now()?.to_string(),
                delivered: 0,
            });
        }
        deliver(ctx, &n, &name, &filter, &mut state, a, exec_timeout, &stop)?;
        let until = Instant::now() + POLL;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

/// Delivers the pending batch from its next item, recording each as it
/// goes; stops early (the rest kept pending) when asked to stop.
#[allow(clippy::too_many_arguments)]
fn deliver(
    ctx: &Ctx,
    n: &Nexo,
    name: &str,
    filter: &FeedFilter,
    state: &mut WatchState,
    a: &Args,
    exec_timeout: Duration,
    stop: &AtomicBool,
) -> Result<()> {
    let Some(pending) = state.pending.clone() else {
        return Ok(());
    };
    // Each item is delivered as the feed tells it: a watch started from
    // the beginning at 100,000 runs holds no batch of 99,000 items.
    let (mut told, mut stopped) = (0, false);
    n.each_feed_item(
        &Cursor::parse(&state.cursor)?,
        &Cursor::parse(&pending.to)?,
        filter,
        &mut |item| {
            told += 1;
            if told <= pending.delivered {
                return Ok(Flow::Continue);
            }
            if stop.load(Ordering::SeqCst) {
                stopped = true;
                return Ok(Flow::Stop);
            }
            let json = serde_json::to_string(&item).expect("items serialize");
            match ctx.json {
                true => super::write_out(format_args!("{json}\n")),
                false => super::write_out(format_args!("{}\n", super::events::line(&item))),
            }
            if !a.exec.is_empty() {
                run_exec(&a.exec, &item, &json, exec_timeout);
            }
            state.pending = Some(Pending {
                to: pending.to.clone(),
                delivered: told,
            });
            save(n, name, state)?;
            Ok(Flow::Continue)
        },
    )?;
    if stopped {
        return Ok(());
    }
    state.cursor = pending.to;
    state.pending = None;
    // An idle watch writes nothing: the cursor on disk stays where the
    // last item was, and a restart looks again from there, finding the
    // same nothing.
    match told > pending.delivered {
        true => save(n, name, state),
        false => Ok(()),
    }
}

fn save(n: &Nexo, name: &str, state: &WatchState) -> Result<()> {
    let text = serde_json::to_string(state).expect("states serialize");
    n.repo().set_watch_state(name, &text)
}

/// Runs `argv` for `item`, never through a shell: the item's JSON on its
/// standard input, `NEXO_*` variables, its output on our standard error
/// (our standard output is the feed). A failure or a hang is reported,
/// and a hang killed; neither stops the watch.
fn run_exec(argv: &[String], item: &Item, json: &str, timeout: Duration) {
    let mut cmd = Command::new(&argv[0]);
    // A group of its own, so a hang is killed with all it started (a
    // shell's `sleep`), not just its first process.
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(std::io::stderr()))
        .env("NEXO_EVENT_KIND", item.kind.as_str())
        .env("NEXO_RUN_ID", &item.run_id)
        .env("NEXO_STEP_KEY", item.step_key.as_deref().unwrap_or(""))
        .env("NEXO_EVENT_ID", item.event_id.as_deref().unwrap_or(""))
        .env("NEXO_SUMMARY", &item.summary);
    let program = nexo::core::limits::quote(&argv[0]);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nexo: watch: --exec {program} could not start: {e}");
            return;
        }
    };
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input is not a failure.
        let _ = stdin
            .write_all(json.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"));
    }
    let began = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return,
            Ok(Some(status)) => {
                eprintln!(
                    "nexo: watch: --exec {program} failed ({status}) on {} {}",
                    item.kind, item.run_id
                );
                return;
            }
            Ok(None) if began.elapsed() >= timeout => {
                #[cfg(unix)]
                let _ = rustix::process::kill_process_group(
                    rustix::process::Pid::from_child(&child),
                    rustix::process::Signal::KILL,
                );
                let _ = child.kill();
                let _ = child.wait();
                eprintln!(
                    "nexo: watch: --exec {program} ran longer than {}s on {} {}: killed",
                    timeout.as_secs(),
                    item.kind,
                    item.run_id
                );
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                eprintln!("nexo: watch: --exec {program}: {e}");
                return;
            }
        }
    }
}

/// A flag set by Ctrl-C or SIGTERM: the watch finishes the item in hand,
/// records it, and stops, so the next start neither repeats nor skips.
fn stop_on_signal() -> Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            Error::new(
                nexo::core::error::ErrorKind::Io,
                "cannot start the signal handler",
            )
            .with_source(e)
        })?;
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let listen = |kind| {
            rt.block_on(async { signal(kind) }).map_err(|e| {
                Error::new(
                    nexo::core::error::ErrorKind::Io,
                    "cannot listen for signals",
                )
                .with_source(e)
            })
        };
        let (mut term, mut int) = (
            listen(SignalKind::terminate())?,
            listen(SignalKind::interrupt())?,
        );
        let set = flag.clone();
        std::thread::spawn(move || {
            rt.block_on(std::future::poll_fn(|cx| {
                match term.poll_recv(cx).is_ready() || int.poll_recv(cx).is_ready() {
                    true => std::task::Poll::Ready(()),
                    false => std::task::Poll::Pending,
                }
            }));
            set.store(true, Ordering::SeqCst);
        });
    }
    Ok(flag)
}
