//! Diagnostics go to a file under the state directory, never to the screen.
//!
//! The dashboard owns the terminal in raw mode, so a stray log line would corrupt the frame;
//! headless commands keep stdout for their output. Both log through [`init`]. The level comes
//! from `XKIT_DASH_LOG` (a level for xkit-dash's own code, or tracing's `EnvFilter` syntax; default
//! `info`). Callers log ids, URL paths and error messages only: never a key, credential or token.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use crate::config::Paths;

/// The environment variable that sets the log filter.
pub const LEVEL_VARIABLE: &str = "XKIT_DASH_LOG";

/// A running file logger; keep it alive for as long as the program logs (dropping it flushes).
pub struct LogFile {
    pub path: PathBuf,
    _guard: WorkerGuard,
}

/// Sends `tracing` events to `{log_dir}/{file_name}`, appending.
///
/// When a global subscriber is already installed (a test harness, a second call) the existing
/// one is kept and this file stays empty rather than failing the program.
pub fn init(paths: &Paths, file_name: &str) -> Result<LogFile> {
    let log_dir = paths.log_dir();
    std::fs::create_dir_all(&log_dir)
        .with_context(|| format!("cannot create the log directory {}", log_dir.display()))?;
    let appender = tracing_appender::rolling::never(&log_dir, file_name);
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = filter_from_env(LEVEL_VARIABLE);
    let installed = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true)
        .with_env_filter(filter)
        .try_init();
    if installed.is_err() {
        tracing::debug!("a tracing subscriber was already installed; keeping it");
    }
    Ok(LogFile { path: log_dir.join(file_name), _guard: guard })
}

/// The log filter named by `variable`. A bare level (`debug`) applies to xkit-dash's own code
/// only, other crates staying at `warn`: libraries log what they are handed (the `webbrowser`
/// crate logs the URL it opens at debug level, and a repair URL holds a single-use token).
/// Full `EnvFilter` directives (`xkit_dash=debug,hyper=trace`) are taken as written.
pub fn filter_from_env(variable: &str) -> EnvFilter {
    let own_code_at = |level: &str| EnvFilter::new(format!("warn,xkit_dash={level}"));
    match std::env::var(variable) {
        Ok(value) if value.trim().parse::<LevelFilter>().is_ok() => own_code_at(value.trim()),
        Ok(value) => EnvFilter::try_new(&value).unwrap_or_else(|_| own_code_at("info")),
        Err(_) => own_code_at("info"),
    }
}
