use std::process::ExitCode;

use xkit_dash::cli;

#[tokio::main]
async fn main() -> ExitCode {
    cli::main().await
}
