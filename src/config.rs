//! Paths, profiles and target flags.
//!
//! Precedence for the target: command-line flags, then the environment
//! (`XKIT_API_URL`, `XKIT_PUBLISHABLE_KEY`, `XKIT_SECRET_KEY`), then the default profile of
//! `config.toml`, and when nothing is configured, the embedded demo platform.

use std::path::PathBuf;

use anyhow::{Context as _, Result};

/// Flags shared by the dashboard and every headless command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// Platform API URL: the server root or its `/api/platform` base.
    #[arg(long, global = true, env = "XKIT_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Profile of config.toml to use instead of the default one.
    #[arg(long, global = true, env = "XKIT_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Refuse every mutating action (token minting, repair links, refreshes).
    #[arg(long, global = true)]
    pub read_only: bool,
}

/// Every place xkit-dash reads or writes, from `directories` unless overridden.
///
/// `XKIT_DASH_CONFIG_DIR`, `XKIT_DASH_DATA_DIR` and `XKIT_DASH_STATE_DIR` override each
/// directory (tests use them to stay out of the user's home).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Paths {
    pub fn discover() -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "xkit-dash");
        let pick = |variable: &str, default: Option<PathBuf>| -> Result<PathBuf> {
            match std::env::var_os(variable).filter(|value| !value.is_empty()) {
                Some(value) => Ok(PathBuf::from(value)),
                None => default.with_context(|| {
                    format!("cannot find a home directory; set {variable} to choose where xkit-dash keeps files")
                }),
            }
        };
        let config_dir = pick("XKIT_DASH_CONFIG_DIR", dirs.as_ref().map(|d| d.config_dir().to_path_buf()))?;
        let data_dir = pick("XKIT_DASH_DATA_DIR", dirs.as_ref().map(|d| d.data_dir().to_path_buf()))?;
        let state_dir = pick(
            "XKIT_DASH_STATE_DIR",
            dirs.as_ref().map(|d| d.state_dir().unwrap_or_else(|| d.data_local_dir()).to_path_buf()),
        )?;
        Ok(Self { config_dir, data_dir, state_dir })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// Where the bundled server keeps its SQLite database and keys when run without
    /// `--data-dir`.
    pub fn server_data_dir(&self) -> PathBuf {
        self.data_dir.join("server")
    }

    /// The embedded demo platform's own data directory.
    pub fn embedded_data_dir(&self) -> PathBuf {
        self.data_dir.join("embedded-demo")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}
