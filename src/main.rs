//! The `nexo` binary: the command line (one module per command), the MCP
//! server and the demo, over the `nexo` library.

#![forbid(unsafe_code)]

use clap::Parser;

/// `print!` that ends the process quietly when the reader went away
/// (`nexo list | head -1`): see `cli::write_out`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!($($arg)*)) };
}

/// `println!`, likewise.
macro_rules! outln {
    () => { $crate::cli::write_out(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*))) };
}

mod cli;
mod demo;
mod mcp;
mod serve;
mod setup;

fn main() {
    nexo::trace::init();
    let cli = cli::Cli::parse();
    let code = cli::run(cli);
    nexo::trace::mark("done");
    std::process::exit(code);
}
