//! Opens the platform the dashboard or a headless command works on.
//!
//! Precedence: flags (`--api-url`, `--profile`, `--read-only`), then the environment
//! (`XKIT_API_URL`, `XKIT_PROFILE`, `XKIT_PUBLISHABLE_KEY`, `XKIT_SECRET_KEY`), then the named or
//! default profile of `config.toml`, then the embedded demo platform. Opening never talks to
//! the target: the first network call is the caller's (the dashboard paints first).

use std::time::Duration;

use anyhow::{Context as _, Result};
use secrecy::SecretString;
use tokio::sync::OnceCell;

use crate::client::{ApiTarget, Client, ClientOptions};
use crate::config::{Config, ConfigError, Paths, Profile, TargetArgs};
use crate::server::EmbeddedPlatform;

/// How long [`OpenTarget::catalog_url`] waits for the platform record before giving up.
const CATALOG_LOOKUP_TIMEOUT: Duration = Duration::from_secs(3);

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
    pub read_only: bool,
    /// True when the target is xkit-dash's own server, which offers the repair-link extension.
    pub bundled: bool,
    /// The profile's `concurrency`, when set.
    pub concurrency: Option<usize>,
    /// The profile's `max_connections`, when set.
    pub max_connections: Option<usize>,
    /// The profile's `refresh` interval, when set.
    pub refresh: Option<Duration>,
    /// The profile's `live_rescan` interval, when set.
    pub live_rescan: Option<Duration>,
    /// The profile's `remote_threshold`, when set.
    pub remote_threshold: Option<u64>,
    /// Keeps the embedded server alive as long as the target is open.
    pub embedded: Option<EmbeddedPlatform>,
    /// Base of the catalog's repair pages: configured, or looked up once on first use.
    catalog: OnceCell<String>,
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

    /// The profile name, when the target came from one.
    pub fn profile(&self) -> Option<&str> {
        match &self.origin {
            TargetOrigin::Profile(name) => Some(name),
            _ => None,
        }
    }

    /// The catalog URL if already known (configured, embedded, or looked up before), without
    /// any network call.
    pub fn known_catalog_url(&self) -> Option<&str> {
        self.catalog.get().map(String::as_str)
    }

    /// The base of the catalog's repair pages (`{catalog}/connectors/{slug}`): the profile's
    /// `catalog_url`, else Xkit's hosted catalog derived from the platform record
    /// (`https://{slug}.xkit.co`). The lookup happens once, on first call, and waits at most a
    /// few seconds; `None` when the platform cannot tell (a failed lookup is retried next call).
    pub async fn catalog_url(&self) -> Option<String> {
        let lookup = async {
            match tokio::time::timeout(CATALOG_LOOKUP_TIMEOUT, self.client.platform()).await {
                Ok(Ok(platform)) if !platform.slug.is_empty() || platform.custom_domain.is_some() => {
                    Ok(platform.hosted_catalog_url())
                }
                Ok(Ok(_)) => Err(()),
                Ok(Err(error)) => {
                    tracing::debug!(%error, "cannot read the platform record for the catalog URL");
                    Err(())
                }
                Err(_) => {
                    tracing::debug!("platform record lookup timed out");
                    Err(())
                }
            }
        };
        self.catalog.get_or_try_init(|| lookup).await.ok().cloned()
    }

    /// The repair page of one connector in the catalog.
    pub async fn repair_url(&self, connector_slug: &str) -> Option<String> {
        let base = self.catalog_url().await?;
        Some(format!("{}/connectors/{connector_slug}", base.trim_end_matches('/')))
    }
}

/// Resolves flags, environment and `config.toml` into a target, starting the embedded demo
/// platform when nothing is configured.
pub async fn open(args: &TargetArgs, paths: &Paths, options: &ClientOptions) -> Result<OpenTarget> {
    let config = Config::load(paths)?;
    open_with(args, &config, paths, options).await
}

/// The name that opens the embedded demo platform when switching profiles (unless config.toml
/// has a profile of that name).
pub const DEMO_PROFILE: &str = "demo";

/// [`open`] with an already loaded configuration.
pub async fn open_with(
    args: &TargetArgs,
    config: &Config,
    paths: &Paths,
    options: &ClientOptions,
) -> Result<OpenTarget> {
    open_resolved(args, config, paths, options, KeySource::EnvironmentFirst).await
}

/// Opens one profile of config.toml, or the embedded demo for [`DEMO_PROFILE`], for a switch
/// made in the dashboard. The profile's own keys are used, never `XKIT_PUBLISHABLE_KEY` or
/// `XKIT_SECRET_KEY`: those were given for the target the dashboard started with, and must not
/// be sent to another server.
pub async fn open_profile(
    name: &str,
    read_only: bool,
    config: &Config,
    paths: &Paths,
    options: &ClientOptions,
) -> Result<OpenTarget> {
    let args = TargetArgs { profile: Some(name.to_owned()), read_only, ..TargetArgs::default() };
    if name == DEMO_PROFILE && !config.profiles.contains_key(name) {
        return open_embedded(&args, paths, options).await;
    }
    open_resolved(&args, config, paths, options, KeySource::ProfileOnly).await
}

/// Where a target's keys come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    /// The environment, then the profile: the target the command was started with.
    EnvironmentFirst,
    /// The profile alone: a target switched to later.
    ProfileOnly,
}

async fn open_resolved(
    args: &TargetArgs,
    config: &Config,
    paths: &Paths,
    options: &ClientOptions,
    keys: KeySource,
) -> Result<OpenTarget> {
    let from_env = |name: &str| if keys == KeySource::EnvironmentFirst { env_value(name) } else { None };
    // An explicit URL without an explicit profile must not pick up the default profile's keys:
    // they would be sent to a server they were not made for.
    let profile = if args.api_url.is_some() && args.profile.is_none() {
        None
    } else {
        config.select_profile(args.profile.as_deref())?
    };
    let api_url = args.api_url.clone().or_else(|| profile.and_then(|(_, profile)| profile.api_url.clone()));
    let Some(api_url) = api_url else {
        if let Some((name, _)) = profile {
            return Err(ConfigError(format!("profile {name:?} has no api_url")).into());
        }
        return open_embedded(args, paths, options).await;
    };

    let (origin, defaults) = match profile {
        Some((name, profile)) => (TargetOrigin::Profile(name.to_owned()), Some(profile)),
        None => (TargetOrigin::Explicit, None),
    };
    let source = match &origin {
        TargetOrigin::Profile(name) => format!("profile {name:?}"),
        _ => "--api-url / XKIT_API_URL".to_owned(),
    };
    let publishable_key = from_env("XKIT_PUBLISHABLE_KEY")
        .or_else(|| defaults.and_then(|profile| profile.publishable_key.clone()))
        .ok_or_else(|| {
            ConfigError(format!("{source} needs a publishable key: set XKIT_PUBLISHABLE_KEY{}", hint(defaults)))
        })?;
    let secret_key = match from_env("XKIT_SECRET_KEY") {
        Some(secret) => SecretString::from(secret),
        None => resolve_profile_secret(&origin, defaults).await?.ok_or_else(|| {
            ConfigError(format!("{source} needs a secret key: set XKIT_SECRET_KEY{}", hint(defaults)))
        })?,
    };
    let client = Client::new(&ApiTarget { api_url, publishable_key, secret_key }, options)
        .map_err(|error| ConfigError(error.to_string()))?;
    let catalog = OnceCell::new();
    if let Some(url) = defaults.and_then(|profile| profile.catalog_url.clone()) {
        let _ = catalog.set(url);
    }
    Ok(OpenTarget {
        client,
        read_only: args.read_only || defaults.is_some_and(|profile| profile.read_only),
        bundled: false,
        concurrency: defaults.and_then(|profile| profile.concurrency),
        max_connections: defaults.and_then(|profile| profile.max_connections),
        refresh: defaults.and_then(|profile| profile.refresh),
        live_rescan: defaults.and_then(|profile| profile.live_rescan),
        remote_threshold: defaults.and_then(|profile| profile.remote_threshold),
        embedded: None,
        catalog,
        origin,
    })
}

/// The embedded platform as a client target. It lives here, not in `server`, because the server
/// never depends on the client.
impl EmbeddedPlatform {
    pub fn api_target(&self) -> ApiTarget {
        ApiTarget {
            api_url: self.server.base_url(),
            publishable_key: self.publishable_key.clone(),
            secret_key: self.secret_key.clone(),
        }
    }
}

async fn open_embedded(args: &TargetArgs, paths: &Paths, options: &ClientOptions) -> Result<OpenTarget> {
    let embedded = crate::server::start_embedded(&paths.embedded_data_dir())
        .await
        .context("cannot start the embedded demo platform")?;
    let client = Client::new(&embedded.api_target(), options)?;
    // The bundled server serves its catalog pages itself.
    let catalog = OnceCell::new_with(Some(client.server_root().as_str().trim_end_matches('/').to_owned()));
    Ok(OpenTarget {
        client,
        origin: TargetOrigin::EmbeddedDemo,
        read_only: args.read_only,
        bundled: true,
        concurrency: None,
        max_connections: None,
        refresh: None,
        live_rescan: None,
        remote_threshold: None,
        embedded: Some(embedded),
        catalog,
    })
}

async fn resolve_profile_secret(origin: &TargetOrigin, profile: Option<&Profile>) -> Result<Option<SecretString>> {
    match (origin, profile) {
        (TargetOrigin::Profile(name), Some(profile)) => profile.resolve_secret(name).await,
        _ => Ok(None),
    }
}

fn hint(profile: Option<&Profile>) -> &'static str {
    if profile.is_some() { " or add it to the profile (see `xkit-dash config init`)" } else { "" }
}

/// An environment variable, with empty values counting as unset.
fn env_value(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.trim().is_empty())
}
