//! `nexo completions` and `nexo man`: shell completions and man pages,
//! generated from the command line's own definition.

use std::path::PathBuf;

use clap::CommandFactory;

use nexo::core::error::{Error, Result};

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo completions bash > ~/.local/share/bash-completion/completions/nexo
  nexo completions zsh > \"${fpath[1]}/_nexo\"
  nexo completions fish > ~/.config/fish/completions/nexo.fish
  nexo completions powershell >> $PROFILE")]
pub struct CompletionArgs {
    /// The shell: bash, zsh, fish, powershell or elvish.
    pub shell: clap_complete::Shell,
}

pub fn completions(a: &CompletionArgs) -> Result<()> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(a.shell, &mut cmd, "nexo", &mut std::io::stdout());
    Ok(())
}

#[derive(clap::Args, Debug)]
#[command(after_help = "Examples:
  nexo man | man -l -
  nexo man --dir ~/.local/share/man/man1     # nexo.1 and one page per command")]
pub struct ManArgs {
    /// Write nexo.1 and a page per command (nexo-open.1, ...) into this folder
    /// instead of printing nexo.1.
    // Not `dir`: that id is the global -C's.
    #[arg(long = "dir", value_name = "DIR")]
    pub into: Option<PathBuf>,
}

pub fn man(a: &ManArgs) -> Result<()> {
    let cmd = super::Cli::command();
    let Some(dir) = &a.into else {
        return clap_mangen::Man::new(cmd)
            .render(&mut std::io::stdout())
            .map_err(|e| Error::io("write", std::path::Path::new("standard output"), e));
    };
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create", dir, e))?;
    clap_mangen::generate_to(cmd, dir).map_err(|e| Error::io("write man pages into", dir, e))?;
    outln!("wrote the man pages into {}", dir.display());
    Ok(())
}
