//! `nexo demo`: the seed's release example, end to end.

use nexo::core::error::Result;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo demo           # the seed's release workflow in a throwaway repository, then cleaned up
  nexo demo --keep    # keep the repositories to look around")]
pub struct Args {
    /// Keep the demo repository and print its path.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(a: &Args) -> Result<()> {
    crate::demo::run(a.keep)
}
