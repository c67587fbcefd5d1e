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
mod migrate_postgres;
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
use secrecy::SecretString;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use database::{DATABASE_URL_ENV, PlatformArgs, PlatformLocation, database_path};
pub use keys::{KeyPair, KeysCommand, create_key_pair, create_key_pair_at};
pub use origins::OriginsCommand;
pub use tls::TlsSource;
pub use transport::ConnectionLimits;

use database::data_dir_or_default;
use state::AppState;
use store::Store;
use tokens::TokenSigner;

/// Default lifetime of a context token.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Default lifetime of a catalog repair link (Nango's connect links live 30 minutes too).
pub const DEFAULT_REPAIR_LINK_TTL: Duration = Duration::from_secs(30 * 60);
/// Pooled connections of a node to its PostgreSQL database (`serve --pool-size`).
pub const DEFAULT_POOL_SIZE: usize = 16;
/// How long [`RunningServer::shutdown`] lets open requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// `xkit-dash serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Directory for the SQLite database and signing keys (default: the data directory); with
    /// --database, what stays per node (TLS files).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the platform in this PostgreSQL database (`postgres://user:password@host/db`)
    /// instead of the data directory: every node started on it serves the same platform. TLS
    /// as libpq's parameters say (`?sslmode=verify-full&sslrootcert=ca.pem`).
    #[arg(long, value_name = "URL", env = DATABASE_URL_ENV, hide_env_values = true,
          value_parser = database::database_url)]
    pub database: Option<SecretString>,
    /// With --database: this node's pooled connections to it.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_POOL_SIZE, value_parser = positive_count,
          requires = "database")]
    pub pool_size: usize,
    /// Seed an empty platform with the bundled demo platform.
    #[arg(long)]
    pub demo: bool,
    /// Load a seed file (the demo's JSON format): platform and connectors are updated,
    /// contexts and connections are added when absent (with --database: into an empty platform only).
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

/// Everything [`start`] needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    /// The SQLite platform, or with `database` what stays per node (TLS files).
    pub data_dir: PathBuf,
    /// The platform's PostgreSQL database (its URL may hold a password); `None`: SQLite in
    /// `data_dir`.
    pub database: Option<SecretString>,
    /// Seed the bundled demo platform when the store is empty.
    pub demo: bool,
    /// A seed file to load at startup.
    pub seed: Option<PathBuf>,
    pub token_ttl: Duration,
    /// SQLite: read connections in the pool (one writer comes on top); PostgreSQL: the pool's
    /// size.
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
            database: None,
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

    /// Where the platform lives: the database if one is given, else the data directory.
    pub fn location(&self) -> PlatformLocation {
        match &self.database {
            Some(url) => PlatformLocation::Postgres(url.clone()),
            None => PlatformLocation::DataDir(self.data_dir.clone()),
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
    let location = config.location();
    let store = location.open(config.read_connections).await?;
    location.seed(&store, config.demo, config.seed.as_deref()).await?;

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
    tracing::info!(%addr, platform = %location.describe(), "platform server listening");
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
    let location = match &args.database {
        Some(url) => PlatformLocation::Postgres(url.clone()),
        None => PlatformLocation::DataDir(data_dir.clone()),
    };
    if let Some(connections) = args.demo_scale {
        let started = std::time::Instant::now();
        let report = scale::seed_at(&location, connections).await?;
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
        read_connections: if args.database.is_some() {
            args.pool_size
        } else {
            ServerConfig::new(&data_dir).read_connections
        },
        database: args.database,
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
    eprintln!("xkit-dash platform listening on {} (data: {})", server.base_url(), location.describe());
    if let Some(certificate) = &server.tls_certificate {
        eprintln!("TLS certificate: {}", certificate.display());
    }
    eprintln!(
        "API base: {}/api/platform; create keys with: xkit-dash keys create {}",
        server.base_url(),
        location.flag()
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
    keys::run(command).await
}

pub async fn run_origins(command: OriginsCommand) -> Result<()> {
    let location = command.platform().location()?;
    store::actor::acting_as(store::actor::CLI.to_owned(), origins::run(&command, &location)).await
}

pub async fn run_migrate(args: migrate::MigrateArgs) -> Result<()> {
    migrate::run(&args).await
}

pub async fn run_webhooks(command: webhooks::WebhooksCommand) -> Result<()> {
    let location = command.platform().location()?;
    webhooks::run(command, &location).await
}
