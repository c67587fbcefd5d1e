//! The command line: the top-level parser and the headless commands.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::TargetArgs;
use crate::{server, tui};

/// Operator's dashboard, CLI and bundled server for Xkit-compatible OAuth connection platforms.
///
/// With no command, opens the dashboard: on the platform named by --api-url, the environment
/// or the default profile, else on an embedded demo platform.
#[derive(Debug, Parser)]
#[command(name = "xkit-dash", version, about, long_about)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub dashboard: tui::DashboardArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the bundled Xkit-compatible platform server.
    Serve(server::ServeArgs),
    /// Manage the API keys of a bundled server's data directory.
    #[command(subcommand)]
    Keys(server::KeysCommand),
}

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => tui::run(cli.target, cli.dashboard).await,
        Some(Command::Serve(args)) => server::run_serve(args).await,
        Some(Command::Keys(command)) => server::run_keys(command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xkit-dash: {error:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
