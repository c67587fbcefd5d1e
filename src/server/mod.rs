//! The bundled Xkit-compatible platform: axum routes, SQLite store, keys, tokens.
//!
//! A request goes down these layers, each using only the ones below it:
//! - `transport`: connections, their timeouts and cap, the body deadline;
//! - `router`: the two route families (JSON API, HTML pages), their fallbacks and layers;
//! - extractors (`extract`), API-key authentication (`auth`, one route layer for the whole
//!   Platform API), the cross-site check of the pages (`same_origin`);
//! - handlers: `routes` (the JSON API, one module per resource), `catalog` and `sandbox`
//!   (pages and the sandbox's OAuth endpoints); they share `state`, `error` (JSON errors),
//!   `html` (pages and their errors), `secret`, `repair_link`, and the OAuth client (`oauth`,
//!   `refresh`);
//! - `store`: SQLite behind one async API, the only place that writes.
//!
//! Programmatic use (tests, the embedded dashboard platform):
//!
//! ```no_run
//! # async fn demo(dir: &std::path::Path) -> anyhow::Result<()> {
//! use xkit_dash::server::{ServerConfig, create_key_pair, start};
//! let server = start(ServerConfig { demo: true, ..ServerConfig::new(dir) }).await?;
//! let keys = create_key_pair(dir)?;
//! // ... talk HTTP to server.base_url() with Basic keys.publishable_key:keys.secret_key ...
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod auth;
mod catalog;
mod cookies;
mod cors;
mod database;
mod error;
pub mod event_retention;
mod event_watch;
mod extract;
mod html;
mod keys;
#[cfg(test)]
mod log_capture;
pub mod migrate;
mod oauth;
mod origins;
mod private_file;
pub mod refresh;
mod repair_link;
mod router;
mod routes;
mod same_origin;
mod sandbox;
pub mod scale;
pub mod scheduler;
mod secret;
pub mod seed;
mod session_cookie;
mod socket;
mod state;
pub mod store;
mod tls;
pub mod tokens;
mod transport;
mod validate;
pub mod webhooks;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use secrecy::{ExposeSecret, SecretString};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use database::database_path;
pub use keys::{KeyPair, create_key_pair};
pub use origins::OriginsCommand;
pub use tls::TlsSource;
pub use transport::ConnectionLimits;

use crate::config::Paths;
use database::{existing_store, open_store};
use state::AppState;
use store::Store;
use tokens::TokenSigner;

/// Default lifetime of a context token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default lifetime of a catalog repair link (Nango's connect links live 30 minutes too).
pub const DEFAULT_REPAIR_LINK_TTL: Duration = Duration::from_secs(30 * 60);
/// How long [`RunningServer::shutdown`] lets open requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    /// Load a seed file (the demo's JSON format): platform and connectors are updated,
    /// contexts and connections are added when absent.
    #[arg(long, value_name = "FILE")]
    pub seed: Option<PathBuf>,
    /// Add a generated platform of N connections (the demo's connectors and health mix, about
    /// five connections per context; deterministic, so running it again adds nothing).
    #[arg(long, value_name = "N")]
    pub demo_scale: Option<usize>,
    /// Lifetime of minted context tokens (e.g. 24h, 30m, 7d).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,
    /// The URL browsers reach this server at (catalog links and OAuth callbacks), when it is
    /// not the listening address (a proxy, a hostname, 0.0.0.0).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<url::Url>,
    /// Refresh access tokens that expire within this margin when they are read.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub refresh_margin: Duration,
    /// Proactively refresh tokens not refreshed for this long (providers revoke unused ones).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = positive_duration)]
    pub refresh_idle: Duration,
    /// Proactive refreshes in flight at once.
    #[arg(long, value_name = "N", default_value_t = scheduler::SchedulerSettings::default().concurrency,
          value_parser = positive_count)]
    pub scheduler_concurrency: usize,
    /// Do not refresh tokens proactively: only reads (and forced refreshes) refresh them.
    #[arg(long, conflicts_with_all = ["refresh_idle", "scheduler_concurrency"])]
    pub no_scheduler: bool,
    /// Close a connection whose request header has not arrived this long after the server was
    /// ready for it (the connection opened or the previous answer was sent).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = positive_duration)]
    pub header_timeout: Duration,
    /// Answer 408 and close when a request body has not arrived whole within this time.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = positive_duration)]
    pub body_timeout: Duration,
    /// Close a connection on which no byte moved either way for this long.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    pub idle_timeout: Duration,
    /// Open connections at most (lowered to fit the open files limit); at the cap, a new
    /// connection replaces the oldest one that has sent no request, or gets a fast 503.
    #[arg(long, value_name = "N", default_value_t = ConnectionLimits::default().max_connections,
          value_parser = positive_count)]
    pub max_connections: usize,
    /// Keep the event history (`GET /api/platform/events`) this long; older events are pruned hourly.
    #[arg(long, value_name = "DURATION", default_value = "30days", value_parser = positive_duration)]
    pub event_retention: Duration,
    /// Disable a webhook endpoint whose every delivery failed for this long (a `webhook.disabled` event).
    #[arg(long, value_name = "DURATION", default_value = "24h", value_parser = positive_duration)]
    pub webhook_disable_after: Duration,
    /// Let webhooks reach loopback, private, link-local and CGNAT addresses although the server
    /// does not listen on loopback (the default refuses them: SSRF).
    #[arg(long)]
    pub allow_private_webhooks: bool,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate for the listening address and localhost,
    /// made on first use in the data directory (its path is printed at startup).
    #[arg(long)]
    pub tls_self_signed: bool,
}

impl ServeArgs {
    fn tls_source(&self) -> Option<TlsSource> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(certificate), Some(key)) => {
                Some(TlsSource::Files { certificate: certificate.clone(), key: key.clone() })
            }
            _ => self.tls_self_signed.then_some(TlsSource::SelfSigned),
        }
    }
}

fn positive_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(count) => Ok(count),
        Err(error) => Err(error.to_string()),
    }
}

/// A humantime duration above zero (a zero timeout would close every connection at once).
fn positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be more than zero".into()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}

/// `xkit-dash keys ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a publishable/secret key pair and print it once.
    Create {
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Print `{"publishable_key": ..., "secret_key": ...}` for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List the key pairs: publishable key, when created, when last used (never a secret).
    List {
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// One `{"publishable_key", "created_at", "last_used_at"}` object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key pair: a running server refuses it within a second.
    Revoke {
        /// The publishable key of the pair (`keys list` shows them).
        publishable_key: String,
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
}

/// Everything [`start`] needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Seed the bundled demo platform when the store is empty.
    pub demo: bool,
    /// A seed file to load at startup.
    pub seed: Option<PathBuf>,
    pub token_ttl: Duration,
    /// Read connections in the SQLite pool (one writer comes on top).
    pub read_connections: usize,
    /// Base of the links handed to browsers; `None`: `http://{addr}` (loopback for 0.0.0.0).
    pub public_url: Option<url::Url>,
    pub refresh: refresh::RefreshSettings,
    /// Lifetime of the links minted by `repair_link`.
    pub repair_link_ttl: Duration,
    /// Connection timeouts and cap.
    pub limits: ConnectionLimits,
    /// Serve HTTPS instead of HTTP.
    pub tls: Option<TlsSource>,
    /// How long the event history is kept (`GET /api/platform/events`).
    pub event_retention: event_retention::EventRetention,
    /// Webhook delivery; private targets are allowed anyway when listening on loopback.
    pub webhooks: webhooks::WebhookSettings,
    /// The proactive refresh scheduler; `None`: tokens are refreshed on read only.
    pub scheduler: Option<scheduler::SchedulerSettings>,
}

impl ServerConfig {
    /// Loopback on a free port, no seeding, default token lifetime, no proactive refresh (so a
    /// test sees refreshes on read only, unless it turns the scheduler on): what tests want.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: data_dir.into(),
            demo: false,
            seed: None,
            token_ttl: DEFAULT_TOKEN_TTL,
            read_connections: 4,
            public_url: None,
            refresh: refresh::RefreshSettings::default(),
            repair_link_ttl: DEFAULT_REPAIR_LINK_TTL,
            limits: ConnectionLimits::default(),
            tls: None,
            event_retention: event_retention::EventRetention::default(),
            webhooks: webhooks::WebhookSettings::default(),
            scheduler: None,
        }
    }
}

/// A server running on a tokio task; dropping it does not stop it, [`RunningServer::shutdown`] does.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The certificate served over TLS (`None`: plain HTTP).
    pub tls_certificate: Option<PathBuf>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// Writes that outlive their request (an API key's "last used") and the scheduler's
    /// refreshes in flight: waited for on shutdown.
    background: TaskTracker,
}

impl RunningServer {
    /// `http://{addr}`, or `https://{addr}` over TLS.
    pub fn base_url(&self) -> String {
        let scheme = if self.tls_certificate.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Stops accepting connections, lets open requests finish (a few seconds at most), and
    /// closes the store.
    pub async fn shutdown(self) {
        self.stop.cancel();
        match tokio::time::timeout(SHUTDOWN_GRACE, self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "server task failed"),
            Err(_) => tracing::warn!("server did not stop within the grace period"),
        }
        self.background.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.background.wait()).await.is_err() {
            tracing::warn!("background writes did not end within the grace period");
        }
    }
}

/// The embedded demo platform: a running server plus the keys generated for it.
pub struct EmbeddedPlatform {
    pub server: RunningServer,
    pub publishable_key: String,
    pub secret_key: SecretString,
}

/// Opens the store (seeding it as configured), binds the address, and serves on a tokio task.
/// The port is bound when this returns, so a client can connect at once.
pub async fn start(config: ServerConfig) -> Result<RunningServer> {
    Ok(launch(config).await?.0)
}

async fn launch(config: ServerConfig) -> Result<(RunningServer, Store)> {
    let data_dir = config.data_dir.clone();
    let readers = config.read_connections;
    let store = tokio::task::spawn_blocking(move || open_store(&data_dir, readers)).await??;

    if config.demo && store.is_empty().await? {
        let report = store.import(seed::parse(seed::DEMO, "the bundled demo platform")?).await?;
        tracing::info!(?report, "seeded the demo platform");
    }
    if let Some(path) = &config.seed {
        let text = tokio::fs::read_to_string(path)
            .await
            .with_context(|| format!("cannot read the seed file {}", path.display()))?;
        let report = store.import(seed::parse(&text, &path.display().to_string())?).await?;
        tracing::info!(?report, path = %path.display(), "loaded the seed file");
    }

    let platform = store.platform().await?;
    let tokens = match store.shared_signing_key(tokens::new_key()).await? {
        Some(key) => TokenSigner::with_key(&key, &platform.slug, config.token_ttl)?,
        None => {
            let data_dir = config.data_dir.clone();
            tokio::task::spawn_blocking(move || TokenSigner::load(&data_dir, &platform.slug, config.token_ttl))
                .await??
        }
    };

    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("cannot listen on {}", config.addr))?;
    let addr = listener.local_addr()?;
    let tls = match config.tls.clone() {
        Some(source) => {
            let data_dir = config.data_dir.clone();
            Some(tokio::task::spawn_blocking(move || tls::ServerTls::load(&source, &data_dir, addr)).await??)
        }
        None => None,
    };
    let urls = Arc::new(server_urls(addr, tls.is_some(), config.public_url.clone())?);
    let own_certificate = tls.as_ref().map(|tls| tls.certificate_pem.as_slice());
    let provider = oauth::ProviderClient::new(urls, config.refresh.timeout, own_certificate)?;
    let keys = Arc::new(auth::KeyCache::default());
    let background = keys.writes();
    // A server on loopback is a developer's: its webhooks may go to local receivers.
    let webhook_settings = webhooks::WebhookSettings {
        allow_private: config.webhooks.allow_private || addr.ip().is_loopback(),
        ..config.webhooks
    };
    store.set_webhook_private_targets_allowed(webhook_settings.allow_private).await?;
    let refresher = Arc::new(refresh::Refresher::new(store.clone(), provider, config.refresh));
    let state = AppState {
        store: store.clone(),
        tokens: Arc::new(tokens),
        keys: keys.clone(),
        refresher: refresher.clone(),
        repair_link_ttl: config.repair_link_ttl,
        webhooks: webhook_settings,
    };
    let app = router::router(state, config.limits.body_timeout);
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    event_retention::spawn_pruner(store.clone(), config.event_retention, stop.clone());
    webhooks::spawn_worker(store.clone(), webhook_settings, stop.clone(), &background);
    event_watch::spawn(store.clone(), stop.clone());
    if let Some(settings) = config.scheduler {
        scheduler::spawn(store.clone(), refresher, settings, stop.clone(), &background);
    }
    let max_connections = transport::connection_cap(config.limits.max_connections);
    let limits = ConnectionLimits { max_connections, ..config.limits };
    let (acceptor, tls_certificate) = tls.map(|tls| (tls.acceptor, tls.certificate_path)).unzip();
    let task = tokio::spawn(transport::serve(listener, app, limits, acceptor, stopped));
    tracing::info!(%addr, data_dir = %config.data_dir.display(), "platform server listening");
    Ok((RunningServer { addr, tls_certificate, stop, task, background }, store))
}

/// Where the server reaches itself (loopback, even when listening on every interface) and the
/// base of browser links.
fn server_urls(addr: SocketAddr, tls: bool, public_url: Option<url::Url>) -> Result<oauth::ServerUrls> {
    let ip = match addr.ip() {
        ip if !ip.is_unspecified() => ip,
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
    };
    let scheme = if tls { "https" } else { "http" };
    let internal = url::Url::parse(&format!("{scheme}://{}/", SocketAddr::new(ip, addr.port())))?;
    let public = match public_url {
        Some(url) if url.path().ends_with('/') => url,
        Some(mut url) => {
            let path = format!("{}/", url.path());
            url.set_path(&path);
            url
        }
        None => internal.clone(),
    };
    Ok(oauth::ServerUrls { internal, public })
}

/// Starts the demo platform on a loopback port, seeding `data_dir` on first use and creating
/// (then remembering, in a 0600 file) a key pair for it.
pub async fn start_embedded(data_dir: &Path) -> Result<EmbeddedPlatform> {
    let config = ServerConfig { demo: true, scheduler: Some(Default::default()), ..ServerConfig::new(data_dir) };
    let (server, store) = launch(config).await?;
    let pair = store::actor::acting_as(store::actor::CLI.to_owned(), keys::embedded_pair(data_dir, &store)).await?;
    Ok(EmbeddedPlatform { server, publishable_key: pair.publishable_key, secret_key: pair.secret_key })
}

pub async fn run_serve(args: ServeArgs) -> Result<()> {
    let filter = crate::logging::filter_from_env("RUST_LOG");
    // A subscriber may already be installed (tests); then logs go there.
    // Colours only on a terminal: a service manager's journal or a log file gets plain text.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ =
        tracing_subscriber::fmt().with_writer(std::io::stderr).with_ansi(colours).with_env_filter(filter).try_init();

    let tls = args.tls_source();
    let data_dir = data_dir_or_default(args.data_dir)?;
    if let Some(connections) = args.demo_scale {
        let started = std::time::Instant::now();
        let report = scale::seed(&data_dir, connections).await?;
        eprintln!(
            "generated platform: {connections} connections over {} contexts ({} connections and {} contexts added in {:.2?})",
            scale::context_count(connections),
            report.connections_added,
            report.contexts_added,
            started.elapsed()
        );
    }
    let config = ServerConfig {
        tls,
        addr: args.addr,
        demo: args.demo,
        seed: args.seed,
        token_ttl: args.token_ttl,
        public_url: args.public_url,
        refresh: refresh::RefreshSettings { margin: args.refresh_margin, ..Default::default() },
        limits: ConnectionLimits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            idle_timeout: args.idle_timeout,
            max_connections: args.max_connections,
        },
        event_retention: event_retention::EventRetention { keep: args.event_retention, ..Default::default() },
        webhooks: webhooks::WebhookSettings {
            disable_after: args.webhook_disable_after,
            allow_private: args.allow_private_webhooks,
            ..Default::default()
        },
        scheduler: (!args.no_scheduler).then_some(scheduler::SchedulerSettings {
            idle: args.refresh_idle,
            concurrency: args.scheduler_concurrency,
            ..Default::default()
        }),
        ..ServerConfig::new(&data_dir)
    };
    let server = start(config).await?;
    eprintln!("xkit-dash platform listening on {} (data: {})", server.base_url(), data_dir.display());
    if let Some(certificate) = &server.tls_certificate {
        eprintln!("TLS certificate: {}", certificate.display());
    }
    eprintln!(
        "API base: {}/api/platform; create keys with: xkit-dash keys create --data-dir {}",
        server.base_url(),
        data_dir.display()
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    server.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

pub async fn run_keys(command: KeysCommand) -> Result<()> {
    store::actor::acting_as(store::actor::CLI.to_owned(), keys_command(command)).await
}

async fn keys_command(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create { data_dir, json } => {
            let data_dir = data_dir_or_default(data_dir)?;
            let pair = keys::add_new_pair(&open_store(&data_dir, 1)?).await?;
            // The user asked for the pair: this is the one time the secret is shown.
            if json {
                println!("{}", serde_json::to_string(&pair)?);
            } else {
                println!("publishable key: {}", pair.publishable_key);
                println!("secret key:      {}", pair.secret_key.expose_secret());
                eprintln!("The secret key is shown only once; only its hash is stored in {}.", data_dir.display());
            }
            Ok(())
        }
        KeysCommand::List { data_dir, json } => {
            let keys = existing_store(&data_dir_or_default(data_dir)?)?.api_keys().await?;
            let time = |at: Option<chrono::DateTime<chrono::Utc>>, none: &str| {
                at.map_or_else(|| none.to_owned(), |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            };
            if json {
                for key in &keys {
                    println!("{}", serde_json::to_string(key)?);
                }
            } else if keys.is_empty() {
                eprintln!("no keys; create one with: xkit-dash keys create");
            } else {
                println!("{:<32}  {:<20}  LAST USED", "PUBLISHABLE KEY", "CREATED");
                for key in &keys {
                    println!(
                        "{:<32}  {:<20}  {}",
                        key.publishable_key,
                        time(key.created_at, "?"),
                        time(key.last_used_at, "never")
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Revoke { publishable_key, data_dir } => {
            let data_dir = data_dir_or_default(data_dir)?;
            existing_store(&data_dir)?
                .revoke_api_key(publishable_key.clone())
                .await
                .with_context(|| format!("cannot revoke the key in {}", data_dir.display()))?;
            println!("revoked {publishable_key}");
            Ok(())
        }
    }
}

pub async fn run_origins(command: OriginsCommand) -> Result<()> {
    let data_dir = data_dir_or_default(command.data_dir().map(Path::to_owned))?;
    store::actor::acting_as(store::actor::CLI.to_owned(), origins::run(&command, &data_dir)).await
}

pub fn run_migrate(args: migrate::MigrateArgs) -> Result<()> {
    let data_dir = data_dir_or_default(args.data_dir.clone())?;
    migrate::run(&args, &data_dir)
}

pub async fn run_webhooks(command: webhooks::WebhooksCommand) -> Result<()> {
    let data_dir = data_dir_or_default(command.data_dir().map(Path::to_owned))?;
    webhooks::run(command, &data_dir).await
}

/// `--data-dir`, else the bundled server's directory under the data directory.
fn data_dir_or_default(data_dir: Option<PathBuf>) -> Result<PathBuf> {
    match data_dir {
        Some(dir) => Ok(dir),
        None => Ok(Paths::discover()?.server_data_dir()),
    }
}
