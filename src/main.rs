use clap::Parser;

fn main() {
    nexo::trace::init();
    let cli = nexo::cli::Cli::parse();
    let code = nexo::cli::run(cli);
    nexo::trace::mark("done");
    std::process::exit(code);
}
