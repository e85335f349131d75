use clap::Parser;

fn main() {
    let cli = nexo::cli::Cli::parse();
    std::process::exit(nexo::cli::run(cli));
}
