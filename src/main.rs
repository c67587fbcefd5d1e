use std::process::ExitCode;

use clap::Parser;
use xkit_dash::cli::{self, Cli};

#[tokio::main]
async fn main() -> ExitCode {
    cli::run(Cli::parse()).await
}
