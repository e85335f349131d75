//! `nexo demo`: a release run, end to end, in a throwaway repository.

use nexo::core::error::Result;

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo demo           # a release run across two clones of a throwaway repository, removed at the end
  nexo demo --keep    # keep the clones to look around (their folder is printed)")]
pub struct Args {
    /// Keep the demo's remote and clones, and print where they are.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(a: &Args) -> Result<()> {
    crate::demo::run(a.keep)
}
