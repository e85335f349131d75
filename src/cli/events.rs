//! `nexo events`: what happened to runs since a cursor, once, with the
//! cursor to ask from next time.
//!
//! The answer is written as the feed tells it, never held whole: asked
//! for everything at 100,000 runs it is 99,000 items, 35 MB held as
//! items and 27 MB more as JSON text. The lines for a person go out one
//! by one. The JSON gives its count before its items, so the items go to
//! an unnamed file as they come, and are written out from it in the
//! shape of `EventsResponse`, byte for byte what the whole answer gives.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Seek, Write};

use serde::{Serialize, Serializer};

use super::Ctx;
use nexo::api::Flow;
use nexo::api::Nexo;
use nexo::core::error::{Error, Result};
use nexo::core::feed::Item;
use nexo::core::model::FeedKind;
use nexo::wire::feed::{EventsResponse, FeedFilter};

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Examples:\n  nexo events --json                                # everything, and a cursor\n  nexo events --since 3f2a…@1764990000000 --on gate_requested,gate_decided\nKinds: gate_requested, gate_decided, step_failed, claim_expired, run_completed, run_blocked.\nThe cursor (<commit>@<unix ms>) is the last line (\"cursor\" with --json): pass it as --since."
)]
pub struct Args {
    /// Only what happened after this cursor, as a previous answer gave it (default: everything).
    #[arg(long, value_name = "CURSOR")]
    pub since: Option<String>,
    /// Only this run (an id or unique prefix).
    #[arg(long, value_name = "RUN")]
    pub run: Option<String>,
    /// Only these kinds, comma-separated.
    #[arg(long, value_name = "KIND,...", value_delimiter = ',')]
    pub on: Vec<FeedKind>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    let filter = FeedFilter {
        run_id: a.run.clone(),
        kinds: a.on.clone(),
    };
    let n = ctx.nexo()?;
    let since = a.since.as_deref();
    let mut out = BufWriter::new(std::io::stdout().lock());
    if !ctx.json {
        let cursor = n.each_event(since, &filter, &mut |item| {
            super::written(writeln!(out, "{}", line(&item)));
            Ok(Flow::Continue)
        })?;
        super::written(writeln!(out, "cursor: {cursor}").and_then(|()| out.flush()));
        return Ok(());
    }
    let mut spill = Spill::new(&n)?;
    let cursor = n.each_event(since, &filter, &mut |item| {
        spill.push(&item)?;
        Ok(Flow::Continue)
    })?;
    let events = spill.read_back()?;
    let answer = EventsResponse {
        ok: true,
        count: events.count,
        events,
        cursor,
    };
    let wrote = serde_json::to_writer_pretty(&mut out, &answer)
        .map_err(std::io::Error::from)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
    super::written(wrote);
    Ok(())
}

/// One item for a person: when, what, and the summary.
pub fn line(i: &Item) -> String {
    format!("{}  {:<14}  {}", i.at, i.kind.as_str(), i.summary)
}

/// Items written away as they are told, one JSON line each, to a file
/// in the git directory with no name (nothing is left behind, even by a
/// killed process).
struct Spill {
    file: BufWriter<File>,
    count: usize,
}

impl Spill {
    fn new(n: &Nexo) -> Result<Spill> {
        let dir = n.repo().git_dir();
        let file = tempfile::tempfile_in(dir).map_err(|e| Error::io("create a file in", dir, e))?;
        Ok(Spill {
            file: BufWriter::new(file),
            count: 0,
        })
    }

    fn push(&mut self, item: &Item) -> Result<()> {
        serde_json::to_writer(&mut self.file, item)
            .map_err(std::io::Error::from)
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(|e| spill_err("write", e))?;
        self.count += 1;
        Ok(())
    }

    fn read_back(self) -> Result<Spilled> {
        let mut file = self
            .file
            .into_inner()
            .map_err(|e| spill_err("write", e.into_error()))?;
        file.rewind().map_err(|e| spill_err("rewind", e))?;
        Ok(Spilled {
            file,
            count: self.count,
        })
    }
}

fn spill_err(what: &str, e: std::io::Error) -> Error {
    Error::io(
        what,
        std::path::Path::new("the file events are spilled to"),
        e,
    )
}

/// The spilled items, read back one at a time as they are written out:
/// the same JSON array a `Vec<Item>` gives.
struct Spilled {
    file: File,
    count: usize,
}

impl Serialize for Spilled {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::{Error as _, SerializeSeq};
        let mut seq = s.serialize_seq(Some(self.count))?;
        for line in BufReader::new(&self.file).lines() {
            let line =
                line.map_err(|e| S::Error::custom(format!("cannot read back events: {e}")))?;
            let item: Item = serde_json::from_str(&line)
                .map_err(|e| S::Error::custom(format!("cannot read back events: {e}")))?;
            seq.serialize_element(&item)?;
        }
        seq.end()
    }
}
