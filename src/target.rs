//! Opens the platform the dashboard or a headless command works on.

use anyhow::{Context as _, Result};
use secrecy::SecretString;

use crate::client::{ApiTarget, Client, ClientOptions};
use crate::config::{Paths, TargetArgs};
use crate::server::EmbeddedPlatform;

/// Where a target came from, for the header and `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetOrigin {
    /// The bundled server started in-process on loopback with the demo platform.
    EmbeddedDemo,
    /// `--api-url` or `XKIT_API_URL`.
    Explicit,
    /// A profile of config.toml.
    Profile(String),
}

/// An opened target: a client plus what the UI needs to describe it.
pub struct OpenTarget {
    pub client: Client,
    pub origin: TargetOrigin,
    /// Base of the catalog's repair pages (`{catalog_url}/connectors/{slug}`), when known.
    pub catalog_url: Option<String>,
    pub read_only: bool,
    /// True when the target is xkit-dash's own server, which offers the repair-link extension.
    pub bundled: bool,
    /// Keeps the embedded server alive as long as the target is open.
    pub embedded: Option<EmbeddedPlatform>,
}

impl OpenTarget {
    /// One line for headers and logs: `local demo · http://127.0.0.1:41234`.
    pub fn label(&self) -> String {
        let url = self.client.server_root();
        match &self.origin {
            TargetOrigin::EmbeddedDemo => format!("local demo · {url}"),
            TargetOrigin::Explicit => url.to_string(),
            TargetOrigin::Profile(name) => format!("{name} · {url}"),
        }
    }
}

/// Resolves flags and environment into a target, starting the embedded demo platform when
/// nothing is configured.
pub async fn open(args: &TargetArgs, paths: &Paths, options: &ClientOptions) -> Result<OpenTarget> {
    if let Some(api_url) = &args.api_url {
        let publishable_key = std::env::var("XKIT_PUBLISHABLE_KEY")
            .context("--api-url / XKIT_API_URL needs XKIT_PUBLISHABLE_KEY and XKIT_SECRET_KEY in the environment")?;
        let secret_key = std::env::var("XKIT_SECRET_KEY")
            .context("--api-url / XKIT_API_URL needs XKIT_PUBLISHABLE_KEY and XKIT_SECRET_KEY in the environment")?;
        let target =
            ApiTarget { api_url: api_url.clone(), publishable_key, secret_key: SecretString::from(secret_key) };
        let client = Client::new(&target, options)?;
        return Ok(OpenTarget {
            client,
            origin: TargetOrigin::Explicit,
            catalog_url: None,
            read_only: args.read_only,
            bundled: false,
            embedded: None,
        });
    }
    let embedded = crate::server::start_embedded(&paths.embedded_data_dir())
        .await
        .context("cannot start the embedded demo platform")?;
    let client = Client::new(&embedded.api_target(), options)?;
    let catalog_url = client.server_root().as_str().trim_end_matches('/').to_owned();
    Ok(OpenTarget {
        client,
        origin: TargetOrigin::EmbeddedDemo,
        catalog_url: Some(catalog_url),
        read_only: args.read_only,
        bundled: true,
        embedded: Some(embedded),
    })
}
