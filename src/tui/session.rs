//! Opening a target for the dashboard: at start and on every profile switch. Everything that
//! depends on the target (its client, read-only keymap and plugins, refresh interval, scan
//! limits) is built here in one place, so a switch leaves nothing of the old target behind.

use std::time::Duration;

use anyhow::Result;

use super::action::Session;
use super::keymap::Keymap;
use super::loader::ScanLimits;
use super::plugins::Plugins;
use super::remote::REMOTE_FROM_CONNECTIONS;
use super::state::DEFAULT_LIVE_RESCAN;
use super::theme::Skin;
use crate::client::ClientOptions;
use crate::config::{Config, ConfigError, Paths, TargetArgs};
use crate::target::{DEMO_PROFILE, OpenTarget, TargetOrigin};

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

/// Checks the dashboard's part of config.toml (`[keys]`, `[[plugins]]`, `[theme]`) before any
/// target is opened, every problem reported in one error; returns the skin.
pub fn check_config(config: &Config, paths: &Paths) -> Result<Skin, ConfigError> {
    let mut problems = Vec::new();
    match Keymap::new(&config.keys, false) {
        Ok(keymap) => {
            if let Err(plugins) = Plugins::new(&config.plugins, &keymap, false) {
                problems.push(format!("invalid plugins:\n{plugins}"));
            }
        }
        Err(keys) => problems.push(format!("invalid key bindings:\n{keys}")),
    }
    let skin = Skin::from_config(&config.theme, &paths.config_dir)
        .map_err(|theme| problems.push(format!("an invalid theme:\n{theme}")))
        .ok();
    match skin {
        Some(skin) if problems.is_empty() => Ok(skin),
        _ => Err(ConfigError(format!("{} has {}", paths.config_file().display(), problems.join("\nand ")))),
    }
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
            profile: match &target.origin {
                TargetOrigin::Profile(name) => Some(name.clone()),
                TargetOrigin::EmbeddedDemo => Some(DEMO_PROFILE.to_owned()),
                TargetOrigin::Explicit => None,
            },
            keymap,
            plugins,
            refresh,
            live_rescan: target.live_rescan.unwrap_or(DEFAULT_LIVE_RESCAN),
            catalog_url: target.known_catalog_url().map(str::to_owned),
        };
        let remote_threshold = target.remote_threshold.unwrap_or(REMOTE_FROM_CONNECTIONS);
        Ok(Opened { target, limits: ScanLimits { concurrency, max_connections, remote_threshold }, session })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_plugins_and_theme_problems_come_in_one_error() {
        let text = r#"
[keys]
quit = ["ctrl-c"]

[theme]
error = "reddish"

[[plugins]]
name = "x"
key = "j"
scopes = ["connection"]
command = ["x"]
"#;
        let config = Config::parse(text, std::path::Path::new("config.toml")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths {
            config_dir: dir.path().to_owned(),
            data_dir: dir.path().to_owned(),
            state_dir: dir.path().to_owned(),
        };
        let error = check_config(&config, &paths).unwrap_err().to_string();
        assert!(error.contains("invalid key bindings:\n[keys] quit: ctrl-c is reserved"), "{error}");
        assert!(error.contains("an invalid theme:\n[theme] error: \"reddish\""), "{error}");

        let config = Config::parse(&text.replace("\"ctrl-c\"", "\"Q\""), std::path::Path::new("c.toml")).unwrap();
        let error = check_config(&config, &paths).unwrap_err().to_string();
        assert!(error.contains("invalid plugins:\nplugin \"x\": key j is already bound to move_down"), "{error}");
        assert!(error.contains("\nand an invalid theme"), "{error}");
    }
}
