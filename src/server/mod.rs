//! The bundled Xkit-compatible platform: axum routes, SQLite store, keys, tokens.
//!
//! STUB: the platform issue replaces this file's bodies; the public signatures below are what
//! the dashboard and the CLI rely on.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Result;
use secrecy::SecretString;

use crate::client::ApiTarget;

/// `xkit-dash serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Directory for the SQLite database and signing keys (default: the data directory).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Seed an empty data directory with the bundled demo platform.
    #[arg(long)]
    pub demo: bool,
}

/// `xkit-dash keys ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a publishable/secret key pair and print it once.
    Create {
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
}

/// A server running on a tokio task; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    pub addr: SocketAddr,
}

impl RunningServer {
    /// `http://{addr}`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// The embedded demo platform: a running server plus the keys generated for it.
pub struct EmbeddedPlatform {
    pub server: RunningServer,
    pub publishable_key: String,
    pub secret_key: SecretString,
}

impl EmbeddedPlatform {
    pub fn api_target(&self) -> ApiTarget {
        ApiTarget {
            api_url: self.server.base_url(),
            publishable_key: self.publishable_key.clone(),
            secret_key: self.secret_key.clone(),
        }
    }
}

/// Starts the demo platform on a loopback port, seeding `data_dir` on first use and creating
/// (then remembering) a key pair for it.
pub async fn start_embedded(_data_dir: &Path) -> Result<EmbeddedPlatform> {
    anyhow::bail!("the bundled server is not built yet")
}

pub async fn run_serve(_args: ServeArgs) -> Result<()> {
    anyhow::bail!("the bundled server is not built yet")
}

pub fn run_keys(_command: KeysCommand) -> Result<()> {
    anyhow::bail!("the bundled server is not built yet")
}
