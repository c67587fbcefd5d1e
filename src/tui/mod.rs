//! The terminal dashboard.
//!
//! One owner of state: input, worker results and timers become [`Action`]s; the pure reducer
//! [`update`] changes [`State`] and returns [`Effect`]s that the runtime executes; drawing
//! ([`ui::draw`]) is a pure function of the state. Layout: `action` (what can happen),
//! `state` (modes, panes and views), `data` (loaded data and its indices), `update/` (the
//! reducer, one module per concern), `keymap` (every mode's keys), `key`, `filter`, `mint`, `theme`,
//! `command` (the `:` line: commands, parsing, completion) and `history` (its file), `columns`
//! (each list's columns) and `sort` (sorting a list by one),
//! `loader` (the worker that runs scans), `runtime` (terminal, event loop, effects), `ui/`
//! (one module per pane).

pub mod action;
pub mod columns;
pub mod command;
pub mod data;
pub mod filter;
#[cfg(test)]
mod fixtures;
mod history;
pub mod key;
pub mod keymap;
mod loader;
pub mod mint;
mod runtime;
pub mod sort;
pub mod state;
pub mod theme;
pub mod ui;
pub mod update;

use std::time::Duration;

use anyhow::{Context as _, Result};

pub use action::{Action, Effect, LoadEvent, Stream};
pub use state::{State, TargetInfo};
pub use update::update;

use crate::config::{Config, ConfigError, Paths, TargetArgs};

/// The profile name `:profile` gives the embedded demo.
const DEMO_PROFILE: &str = "demo";
const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
const DEFAULT_CONCURRENCY: usize = crate::scan::DEFAULT_CONCURRENCY;
const DEFAULT_MAX_CONNECTIONS: usize = crate::scan::DEFAULT_MAX_CONNECTIONS;

/// Options that only the dashboard takes.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DashboardArgs {
    /// How often the dashboard reloads everything, e.g. 30s or 5m (default 30s).
    #[arg(long, value_name = "DURATION", value_parser = parse_refresh)]
    pub refresh: Option<Duration>,
    /// How many requests the dashboard sends at once when fetching per context (default 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,
    /// Keep at most N connections (and N contexts, N connectors): past that the pane shows an
    /// error naming the server, so a runaway server cannot take the machine's memory. Each
    /// connection costs 1.4 to 2 KiB (default: the profile's `max_connections`, else 100000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
    /// Leave the mouse to the terminal (text selection works; no clicks or wheel in the
    /// dashboard). Also `mouse = false` in config.toml.
    #[arg(long)]
    pub no_mouse: bool,
}

fn parse_refresh(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration < Duration::from_secs(1) {
        return Err("the refresh interval must be at least 1s".to_owned());
    }
    Ok(duration)
}

/// Opens the target and runs the dashboard until the user quits.
pub async fn run(target_args: TargetArgs, args: DashboardArgs) -> Result<()> {
    let paths = Paths::discover()?;
    let log = crate::logging::init(&paths, "dashboard.log")?;
    let options = target_args.client_options();
    let config = Config::load(&paths)?;
    let target = crate::target::open_with(&target_args, &config, &paths, &options).await?;
    let keymap = keymap::Keymap::new(&config.keys, target.read_only).map_err(|problems| {
        ConfigError(format!("{} has invalid key bindings:\n{problems}", paths.config_file().display()))
    })?;
    let refresh = args.refresh.or(target.refresh).unwrap_or(DEFAULT_REFRESH);
    let concurrency = args.concurrency.map(usize::from).or(target.concurrency).unwrap_or(DEFAULT_CONCURRENCY).max(1);
    let max_connections = args
        .max_connections
        .map(|max| usize::try_from(max).unwrap_or(usize::MAX))
        .or(target.max_connections)
        .unwrap_or(DEFAULT_MAX_CONNECTIONS);
    tracing::info!(target = %target.label(), ?refresh, concurrency, max_connections, read_only = target.read_only, log = %log.path.display(), "dashboard starting");
    let info = TargetInfo { label: target.label(), read_only: target.read_only, bundled: target.bundled };
    let mut state = State::new(
        info,
        keymap,
        theme::Theme::from_env(),
        state::Settings { refresh },
        target.known_catalog_url().map(str::to_owned),
    );
    state.profiles = config.profiles.keys().cloned().collect();
    if !config.profiles.contains_key(DEMO_PROFILE) {
        state.profiles.push(DEMO_PROFILE.to_owned());
    }
    let history_file = paths.command_history_file();
    state.command_history = history::load(&history_file);
    let options = runtime::RuntimeOptions { mouse: !args.no_mouse && config.mouse.unwrap_or(true), history_file };
    let limits = runtime::ScanLimits { concurrency, max_connections };
    let result = runtime::run(state, target.client.clone(), limits, options).await.context("the dashboard failed");
    tracing::info!(ok = result.is_ok(), "dashboard stopped");
    // The embedded server (if any) lives in `target` until here.
    drop(target);
    result
}
