//! `nexo serve`: the read-only web board.

use std::net::IpAddr;
use std::path::PathBuf;

use super::Ctx;
use nexo::core::error::Result;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo serve                 # http://127.0.0.1:7420/, the first line printed
  nexo serve --port 0        # any free port
The board is read-only, re-reads .nexo/ on every request and reloads itself every 5 s.")]
pub struct Args {
    /// The port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 7420)]
    pub port: u16,
    /// The address to listen on. Anything but loopback exposes your runs to the network.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// The repository to serve (default: the working directory, or -C).
    #[arg(long, value_name = "DIR")]
    pub repo: Option<PathBuf>,
}

pub fn run(ctx: &Ctx, a: &Args) -> Result<()> {
    if !a.host.is_loopback() {
        eprintln!(
            "nexo: warning: listening on {}, not loopback: anyone who can reach this machine can read the runs",
            a.host
        );
    }
    let dir = a.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    crate::serve::serve(dir, ctx.options(), a.host, a.port)
}
