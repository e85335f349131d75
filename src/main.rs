//! The `nexo` binary: the command line (one module per command), the MCP
//! server and the demo, over the `nexo` library.

#![forbid(unsafe_code)]

use clap::Parser;

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
