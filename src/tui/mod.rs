//! The terminal dashboard.
//!
//! One owner of state: input, worker results and timers become [`Action`]s; the pure reducer
//! [`update`] changes [`State`] and returns [`Effect`]s that the runtime executes; drawing
//! ([`ui::draw`]) is a pure function of the state. Layout: `action` (what can happen),
//! `state` (modes, panes and views), `data` (loaded data and its indices), `update/` (the
//! reducer, one module per concern), `keymap` (every mode's keys), `key`, `filter`, `mint`, `theme` (skins), `plugins` (user
//! commands), `session` (opening a target, at start and on a profile switch), `command` (the `:`
//! line: commands, parsing, completion) and `history` (its file), `columns` (each list's columns)
//! and `sort` (sorting a list by one),
//! `loader` (the worker that runs scans), `follower` (the worker that follows events) and `live`
//! (what it learned: follow mode, recent events, the 24-hour history), `runtime` (terminal, event loop, effects), `ui/`
//! (one module per pane).

pub mod action;
pub mod columns;
pub mod command;
pub mod data;
mod fetcher;
pub mod filter;
#[cfg(test)]
mod fixtures;
mod follower;
mod history;
pub mod key;
pub mod keymap;
pub mod list_view;
pub mod live;
mod loader;
pub mod mint;
pub mod paged;
pub mod plugins;
pub mod remote;
mod runtime;
pub mod session;
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

use crate::config::{Config, Paths, TargetArgs};

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
    let skin = session::check_config(&config, &paths)?;
    let overrides = session::Overrides {
        refresh: args.refresh,
        concurrency: args.concurrency.map(usize::from),
        max_connections: args.max_connections.map(|max| usize::try_from(max).unwrap_or(usize::MAX)),
    };
    let mouse = !args.no_mouse && config.mouse.unwrap_or(true);
    let history_file = paths.command_history_file();
    let opener = session::Opener { args: target_args, config, paths, options, overrides };
    let opened = opener.open(None).await?;
    tracing::info!(log = %log.path.display(), "dashboard starting");
    let session = opened.session.clone();
    let target = TargetInfo {
        label: session.label,
        read_only: session.read_only,
        bundled: session.bundled,
        api_url: session.api_url,
        profile: session.profile,
    };
    let settings = state::Settings { refresh: session.refresh, live_rescan: session.live_rescan };
    let mut state = State::new(target, session.keymap, theme::Theme::from_env(skin), settings, session.catalog_url);
    state.plugins = session.plugins;
    state.profiles = opener.profile_names();
    state.command_history = history::load(&history_file);
    let options = runtime::RuntimeOptions { mouse, history_file };
    let result = runtime::run(state, opener, opened, options).await.context("the dashboard failed");
    tracing::info!(ok = result.is_ok(), "dashboard stopped");
    result
}
