//! `xkit-dash origins ...`: the web origins whose pages may call the Platform User API from a
//! browser (xkit.js). A running server reads the list on every cross-origin request, so a
//! change applies at once.

use anyhow::{Context as _, Result};

use super::database::{PlatformArgs, PlatformLocation};
use super::validate;

/// `xkit-dash origins ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum OriginsCommand {
    /// Allow the pages of an origin (`https://app.example.com`, `http://127.0.0.1:3000`).
    #[command(after_help = "Examples:\n  xkit-dash origins add https://app.example.com\n  \
                            xkit-dash origins add http://127.0.0.1:3000 --data-dir ./platform")]
    Add {
        /// `scheme://host[:port]`, exactly as the browser sends it in `Origin`.
        origin: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// List the allowed origins, one a line.
    #[command(after_help = "Examples:\n  xkit-dash origins list --data-dir ./platform")]
    List {
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Stop allowing an origin.
    #[command(after_help = "Examples:\n  xkit-dash origins remove https://app.example.com")]
    Remove {
        origin: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

impl OriginsCommand {
    pub fn platform(&self) -> &PlatformArgs {
        match self {
            Self::Add { platform, .. } | Self::List { platform } | Self::Remove { platform, .. } => platform,
        }
    }
}

/// Runs `command` on the platform at `location`.
pub async fn run(command: &OriginsCommand, location: &PlatformLocation) -> Result<()> {
    let store = location.existing().await?;
    match command {
        OriginsCommand::Add { origin, .. } => {
            let origin = validate::web_origin(origin).map_err(anyhow::Error::msg)?;
            if store.add_web_origin(origin.clone()).await? {
                println!("added {origin}");
            } else {
                println!("{origin} was already allowed");
            }
        }
        OriginsCommand::List { .. } => {
            let origins = store.web_origins().await?;
            if origins.is_empty() {
                eprintln!("no web origins; allow one with: xkit-dash origins add https://app.example.com");
            }
            for origin in origins {
                println!("{origin}");
            }
        }
        OriginsCommand::Remove { origin, .. } => {
            // Removing takes the origin as it was added, a trailing slash or letter case aside.
            let origin = validate::web_origin(origin).unwrap_or_else(|_| origin.clone());
            store
                .remove_web_origin(origin.clone())
                .await
                .with_context(|| format!("cannot remove the origin in {}", location.describe()))?;
            println!("removed {origin}");
        }
    }
    Ok(())
}
