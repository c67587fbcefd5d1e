//! Opening a target for the dashboard: at start and on every profile switch. Everything that
//! depends on the target (its client, read-only keymap and plugins, refresh interval, scan
//! limits) is built here in one place, so a switch leaves nothing of the old target behind.

use std::time::Duration;

use anyhow::Result;

use super::action::Session;
use super::keymap::Keymap;
use super::loader::ScanLimits;
use super::plugins::Plugins;
use crate::client::ClientOptions;
use crate::config::{Config, ConfigError, Paths, TargetArgs};
use crate::target::{DEMO_PROFILE, OpenTarget};

const DEFAULT_REFRESH: Duration = Duration::from_secs(30);
const DEFAULT_CONCURRENCY: usize = crate::scan::DEFAULT_CONCURRENCY;
const DEFAULT_MAX_CONNECTIONS: usize = crate::scan::DEFAULT_MAX_CONNECTIONS;

/// The dashboard's flags that override a profile's settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct Overrides {
    pub refresh: Option<Duration>,
    pub concurrency: Option<usize>,
    pub max_connections: Option<usize>,
}

/// An opened target: what the runtime keeps (the client, the embedded server) and what the
/// reducer is told.
pub struct Opened {
    pub target: OpenTarget,
    pub limits: ScanLimits,
    pub session: Session,
}

/// Everything needed to open any target again, kept by the runtime for profile switches.
pub struct Opener {
    pub args: TargetArgs,
    pub config: Config,
    pub paths: Paths,
    pub options: ClientOptions,
    pub overrides: Overrides,
}

impl Opener {
    /// The profiles `:profile` and the picker offer: config.toml's, then the embedded demo.
    pub fn profile_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.config.profiles.keys().cloned().collect();
        if !names.iter().any(|name| name == DEMO_PROFILE) {
            names.push(DEMO_PROFILE.to_owned());
        }
        names
    }

    /// Opens the target the flags, environment and config select (`profile: None`), or one
    /// profile by name for a switch.
    pub async fn open(&self, profile: Option<&str>) -> Result<Opened> {
        let target = match profile {
            None => crate::target::open_with(&self.args, &self.config, &self.paths, &self.options).await?,
            Some(name) => {
                crate::target::open_profile(name, self.args.read_only, &self.config, &self.paths, &self.options).await?
            }
        };
        let config_file = self.paths.config_file();
        let keymap = Keymap::new(&self.config.keys, target.read_only).map_err(|problems| {
            ConfigError(format!("{} has invalid key bindings:\n{problems}", config_file.display()))
        })?;
        let plugins = Plugins::new(&self.config.plugins, &keymap, target.read_only)
            .map_err(|problems| ConfigError(format!("{} has invalid plugins:\n{problems}", config_file.display())))?;
        let overrides = self.overrides;
        let refresh = overrides.refresh.or(target.refresh).unwrap_or(DEFAULT_REFRESH);
        let concurrency = overrides.concurrency.or(target.concurrency).unwrap_or(DEFAULT_CONCURRENCY).max(1);
        let max_connections = overrides.max_connections.or(target.max_connections).unwrap_or(DEFAULT_MAX_CONNECTIONS);
        tracing::info!(target = %target.label(), ?refresh, concurrency, max_connections, read_only = target.read_only, "target opened");
        let session = Session {
            label: target.label(),
            read_only: target.read_only,
            bundled: target.bundled,
            api_url: target.client.server_root().to_string(),
            keymap,
            plugins,
            refresh,
            catalog_url: target.known_catalog_url().map(str::to_owned),
        };
        Ok(Opened { target, limits: ScanLimits { concurrency, max_connections }, session })
    }
}
