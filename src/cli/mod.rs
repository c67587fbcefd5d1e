//! The command line: the top-level parser and the headless commands.
//!
//! Exit codes (documented in `--help`): 0 all good; 1 `check` found connections needing
//! attention (nothing else exits 1, so cron can page on it alone); 2 the target failed in any
//! way (unreachable, keys refused, an error answer, a protocol violation, a limit reached);
//! 3 bad usage or config.

mod check;
mod events;
mod exit;
mod list;
mod output;
mod progress;
mod recent;
mod session;
mod settings;
mod token;

use std::process::ExitCode;

use anyhow::Result;
use clap::{CommandFactory as _, Parser, Subcommand};

use exit::exit_codes_help;
pub use exit::{EXIT_ATTENTION, EXIT_OK, EXIT_TARGET, EXIT_USAGE};
use session::Session;

use crate::config::{Config, ConfigError, Paths, TargetArgs};
use crate::{server, tui};

/// Operator's dashboard, CLI and bundled server for Xkit-compatible OAuth connection platforms.
///
/// With no command, opens the dashboard: on the platform named by --api-url, the environment
/// or the default profile, else on an embedded demo platform.
#[derive(Debug, Parser)]
#[command(name = "xkit-dash", version, about, long_about, after_help = ROOT_EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub dashboard: tui::DashboardArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

const ROOT_EXAMPLES: &str = concat!(
    "Examples:
  xkit-dash                                   open the dashboard (embedded demo if nothing is configured)
  xkit-dash --profile prod --read-only        open the dashboard on a profile, without mutations
  xkit-dash check --connector salesforce --json | jq '.unhealthy[]'

",
    exit_codes_help!()
);

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scan every connection and report the ones needing attention (exit 1 if any).
    #[command(after_help = check::EXAMPLES)]
    Check(check::CheckArgs),
    /// List contexts (users, companies...).
    #[command(after_help = list::CONTEXTS_EXAMPLES)]
    Contexts(list::ContextsArgs),
    /// List connectors.
    #[command(after_help = list::CONNECTORS_EXAMPLES)]
    Connectors(list::ConnectorsArgs),
    /// List connections across contexts, with their health.
    #[command(after_help = list::CONNECTIONS_EXAMPLES)]
    Connections(list::ConnectionsArgs),
    /// Show one context's connection to one connector (the credential stays hidden unless asked).
    #[command(after_help = list::CONNECTION_EXAMPLES)]
    Connection(list::ConnectionArgs),
    /// Print the platform's event history (xkit-dash's server); --follow streams new events.
    #[command(after_help = events::EXAMPLES)]
    Events(events::EventsArgs),
    /// Context tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Create, show and locate config.toml.
    #[command(subcommand)]
    Config(settings::ConfigCommand),
    /// Print every path xkit-dash uses: config, data, state, logs.
    #[command(after_help = settings::INFO_EXAMPLES)]
    Info(settings::InfoArgs),
    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_EXAMPLES)]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a man page (roff), generated from the same definitions as --help.
    #[command(after_help = MAN_EXAMPLES)]
    Man {
        /// The page of this command (xkit-dash-COMMAND(1)) instead of the main page.
        command: Option<String>,
    },
    /// Run the bundled Xkit-compatible platform server.
    // Boxed: its many flags would make every other command as large.
    Serve(Box<server::ServeArgs>),
    /// Manage the API keys of a bundled server's data directory.
    #[command(subcommand)]
    Keys(server::KeysCommand),
    /// Manage the web origins whose pages may call the platform from a browser (xkit.js).
    #[command(subcommand)]
    Origins(server::OriginsCommand),
    /// Manage the signed webhooks of a bundled server's data directory.
    #[command(subcommand)]
    Webhooks(server::webhooks::WebhooksCommand),
    /// Show or bring up to date the schema of a bundled server's data directory.
    #[command(after_help = server::migrate::EXAMPLES)]
    Migrate(server::migrate::MigrateArgs),
}

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  xkit-dash completions bash > ~/.local/share/bash-completion/completions/xkit-dash
  xkit-dash completions zsh > \"${fpath[1]}/_xkit-dash\"
  xkit-dash completions fish > ~/.config/fish/completions/xkit-dash.fish";

const MAN_EXAMPLES: &str = "\
Examples:
  xkit-dash man | man -l -
  xkit-dash man check | man -l -
  xkit-dash man > ~/.local/share/man/man1/xkit-dash.1";

/// Parses the process arguments and runs them. Usage errors exit with 3 (not clap's 2, which
/// means "target unreachable" here); `--help` and `--version` exit with 0.
pub async fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => run(cli).await,
        Err(error) => {
            let _ = error.print();
            let code = if error.use_stderr() { EXIT_USAGE } else { EXIT_OK };
            ExitCode::from(code)
        }
    }
}

/// Runs the parsed command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        None => tui::run(cli.target, cli.dashboard).await.map(|()| EXIT_OK),
        Some(Command::Serve(args)) => server::run_serve(*args).await.map(|()| EXIT_OK),
        Some(Command::Keys(command)) => server::run_keys(command).await.map(|()| EXIT_OK),
        Some(Command::Origins(command)) => server::run_origins(command).await.map(|()| EXIT_OK),
        Some(Command::Webhooks(command)) => server::run_webhooks(command).await.map(|()| EXIT_OK),
        Some(Command::Migrate(args)) => server::run_migrate(args).await.map(|()| EXIT_OK),
        Some(Command::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "xkit-dash", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Some(Command::Man { command }) => print_man_page(command.as_deref()),
        Some(command) => run_headless(cli.target, command).await,
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) if is_broken_pipe(&error) => ExitCode::from(EXIT_OK),
        Err(error) => {
            eprintln!("xkit-dash: {}", crate::sanitize::for_terminal_within(&format!("{error:#}"), 4096));
            ExitCode::from(exit_code_for(&error))
        }
    }
}

async fn run_headless(target_args: TargetArgs, command: Command) -> Result<u8> {
    let paths = Paths::discover().map_err(|error| ConfigError(format!("{error:#}")))?;
    // Logging is best effort for headless commands: a read-only home must not stop `check`.
    let _log = crate::logging::init(&paths, "cli.log").ok();
    // `config` and `info` must work with a broken config file, to help fix it.
    if let Command::Config(command) = command {
        return settings::run_config(command, &target_args, &paths).await;
    }
    if let Command::Info(args) = command {
        return settings::run_info(args, &target_args, &paths);
    }
    let config = Config::load(&paths)?;
    let session = Session { paths, config, target_args };
    match command {
        Command::Check(args) => check::run(&session, args).await,
        Command::Contexts(args) => list::contexts(&session, args).await,
        Command::Connectors(args) => list::connectors(&session, args).await,
        Command::Connections(args) => list::connections(&session, args).await,
        Command::Connection(args) => list::connection(&session, args).await,
        Command::Events(args) => events::run(&session, args).await,
        Command::Token(command) => token::run(&session, command).await,
        Command::Config(_)
        | Command::Info(_)
        | Command::Completions { .. }
        | Command::Man { .. }
        | Command::Serve(_)
        | Command::Keys(_)
        | Command::Origins(_)
        | Command::Webhooks(_)
        | Command::Migrate(_) => unreachable!("dispatched before"),
    }
}

/// `man [COMMAND]`: the main page, whose SUBCOMMANDS section names `xkit-dash-COMMAND(1)`, or
/// one of those.
fn print_man_page(command: Option<&str>) -> Result<u8> {
    let mut root = Cli::command();
    // Building sets the subcommands' display names (`xkit-dash-check`), which title their pages.
    root.build();
    let page = match command {
        None => root,
        Some(name) => root.find_subcommand(name).cloned().ok_or_else(|| {
            let known: Vec<&str> = root.get_subcommands().map(clap::Command::get_name).collect();
            ConfigError(format!("no command {name:?}; known: {}", known.join(", ")))
        })?,
    };
    let source = format!("xkit-dash {}", env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(page).source(source).render(&mut std::io::stdout())?;
    Ok(EXIT_OK)
}

/// Maps an error to the documented exit code: every failure that is not the user's own
/// configuration (a data directory written by a newer xkit-dash included) is the target's.
/// (Exit 1 is never an error: it is `check`'s verdict.)
fn exit_code_for(error: &anyhow::Error) -> u8 {
    let configuration = |cause: &(dyn std::error::Error + 'static)| {
        cause.is::<ConfigError>() || cause.is::<server::store::NewerSchema>()
    };
    if error.chain().any(configuration) { EXIT_USAGE } else { EXIT_TARGET }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|error| error.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ClientError;

    #[test]
    fn command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn errors_map_to_documented_exit_codes() {
        let code = |error: anyhow::Error| exit_code_for(&error);
        assert_eq!(code(ConfigError("bad".into()).into()), EXIT_USAGE);
        assert_eq!(code(ClientError::Unreachable("down".into()).into()), EXIT_TARGET);
        assert_eq!(code(ClientError::Unauthorized("no".into()).into()), EXIT_TARGET);
        assert_eq!(code(ClientError::Api { status: 500, message: "x".into() }.into()), EXIT_TARGET);
        assert_eq!(code(ClientError::NotFound("x".into()).into()), EXIT_TARGET);
        assert_eq!(code(ClientError::Api { status: 400, message: "x".into() }.into()), EXIT_TARGET);
        assert_eq!(code(ClientError::Api { status: 200, message: "x".into() }.into()), EXIT_TARGET);
        let wrapped = anyhow::Error::from(ClientError::Unauthorized("no".into())).context("listing contexts");
        assert_eq!(code(wrapped), EXIT_TARGET);
    }

    #[test]
    fn every_command_has_examples_in_its_help() {
        let mut root = Cli::command();
        for command in root.get_subcommands_mut() {
            if matches!(command.get_name(), "serve" | "keys") {
                continue;
            }
            let commands: Vec<clap::Command> = if command.has_subcommands() {
                command.get_subcommands().cloned().collect()
            } else {
                vec![command.clone()]
            };
            for mut command in commands {
                let help = command.render_long_help().to_string();
                assert!(help.contains("Examples:"), "{} has no examples", command.get_name());
            }
        }
    }
}
