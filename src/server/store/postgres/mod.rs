//! The store on PostgreSQL: several server nodes on one database.
//!
//! A pool of connections (deadpool: each connection caches its prepared statements, with
//! `prepare_cached`), the schema's migrations run at connect (`migrations.rs`), and one listener
//! connection per process (`listener.rs`) that turns every node's committed events and status
//! changes into the same `watch` and `broadcast` channels the SQLite store feeds. What SQLite's
//! writer does with TEMP triggers, the schema does with triggers (`schema.rs`, `triggers.rs`).
//!
//! No query hangs: the pool waits at most [`POOL_WAIT`] for a connection, a connection is made
//! within [`CONNECT_TIMEOUT`], and every statement stops after [`STATEMENT_TIMEOUT`]; the database
//! unreachable is `StoreError::Unavailable` (503, `Retry-After: 1`) until it is back, with no
//! restart of the node.

mod authorization_writes;
mod authorizations;
mod connection_reads;
mod connections;
mod contexts;
mod error;
mod events;
mod export;
mod flows;
mod import;
mod listener;
pub mod migrations;
mod platform;
mod refreshes;
mod sandbox;
pub mod schema;
pub mod settings;
pub mod tls;
pub mod triggers;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime, Transaction};
use futures::future::BoxFuture;
use tokio::sync::{broadcast, watch};
use tokio_postgres::Socket;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_util::task::AbortOnDropHandle;

use super::error::StoreResult;
use super::export::ExportSlots;
use super::migrations::SchemaStatus;
use super::platform::{DEFAULT_NAME, DEFAULT_SLUG};
use super::status_changes::{ANNOUNCED_CHANGES, AuthorizationStatusRecord};

/// How long a request waits for a free pooled connection.
pub const POOL_WAIT: Duration = Duration::from_secs(2);
/// How long making a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a transaction may wait idle between two statements.
pub const IDLE_IN_TRANSACTION: Duration = Duration::from_secs(15);

/// The store's handle on a PostgreSQL database; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    /// The newest committed event's seq, on any node.
    newest_event: watch::Sender<i64>,
    /// Authorization status changes committed on any node.
    status_changes: broadcast::Sender<AuthorizationStatusRecord>,
    /// The LISTEN connection's task, stopped with the store.
    _listener: AbortOnDropHandle<()>,
    /// Exports running (`export.rs`).
    export_slots: ExportSlots,
}

impl PgStore {
    /// Connects to the database at `url` with up to `pool_size` pooled connections, migrates
    /// it, makes the default platform row, and starts listening for notifications.
    pub async fn connect(url: &str, pool_size: usize) -> anyhow::Result<PgStore> {
        let settings = ConnectionSettings::of(url)?;
        let (mut client, connection) = settings.connect(url).await?;
        let driver = AbortOnDropHandle::new(tokio::spawn(connection));
        migrations::migrate(&mut client).await.with_context(|| redacted(url))?;
        // As SQLite's `platform::ensure_default_platform`.
        client
            .execute(
                "INSERT INTO platform (id, name, slug) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING",
                &[&DEFAULT_NAME, &DEFAULT_SLUG],
            )
            .await?;
        let newest: i64 = client.query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[]).await?.get(0);
        drop(client);
        drop(driver);

        let manager = Manager::from_config(
            settings.config.clone(),
            settings.tls.clone(),
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(POOL_WAIT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .context("cannot make the PostgreSQL connection pool")?;
        let newest_event = watch::channel(newest).0;
        let status_changes = broadcast::channel(ANNOUNCED_CHANGES).0;
        let subscribers =
            listener::Subscribers { newest_event: newest_event.clone(), status_changes: status_changes.clone() };
        let listener = AbortOnDropHandle::new(tokio::spawn(listener::run(settings, subscribers)));
        Ok(PgStore {
            inner: Arc::new(Inner {
                pool,
                newest_event,
                status_changes,
                _listener: listener,
                export_slots: ExportSlots::default(),
            }),
        })
    }

    /// A pooled connection, for reads (statements through `prepare_cached`).
    pub async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.inner.pool.get().await?)
    }

    /// Runs `write` in one transaction whose events are `actor`'s, and commits it: the
    /// triggers write the change's events, counters, outbox rows and notifications with it.
    ///
    /// ```ignore
    /// let renamed = store
    ///     .write(actor::current().as_deref(), |tx| {
    ///         Box::pin(async move {
    ///             let statement = tx.prepare_cached("UPDATE contexts SET external_name = $2 WHERE external_id = $1").await?;
    ///             Ok(tx.execute(&statement, &[&"ctx-1", &"Renamed"]).await?)
    ///         })
    ///     })
    ///     .await?;
    /// ```
    pub async fn write<R, F>(&self, actor: Option<&str>, write: F) -> StoreResult<R>
    where
        F: for<'t> FnOnce(&'t Transaction<'t>) -> BoxFuture<'t, StoreResult<R>>,
    {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        settings::act_as(&tx, actor).await?;
        let written = write(&tx).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// The newest committed event's seq, on any node: long-polls wait for it to grow.
    pub fn subscribe_events(&self) -> watch::Receiver<i64> {
        self.inner.newest_event.subscribe()
    }

    pub fn newest_event_seq(&self) -> i64 {
        *self.inner.newest_event.borrow()
    }

    /// Authorization status changes as they commit, on any node.
    pub fn subscribe_status_changes(&self) -> broadcast::Receiver<AuthorizationStatusRecord> {
        self.inner.status_changes.subscribe()
    }
}

/// The schema status of the database at `url`, read without writing: `migrate --status`.
pub async fn schema_status(url: &str) -> anyhow::Result<SchemaStatus> {
    let (client, _driver) = single_connection(url).await?;
    migrations::status(&client).await
}

/// One connection of its own to the database at `url`, outside the pool, with the store's
/// settings: for what holds a session (an advisory lock) or runs long (`migrate
/// --from-sqlite`). The connection lives as long as the returned handle.
pub async fn single_connection(url: &str) -> anyhow::Result<(tokio_postgres::Client, AbortOnDropHandle<()>)> {
    let (client, connection) = ConnectionSettings::of(url)?.connect(url).await?;
    let driver = AbortOnDropHandle::new(tokio::spawn(async move {
        let _ = connection.await;
    }));
    Ok((client, driver))
}

/// A connection's driver, over TLS or not.
type Driver = tokio_postgres::Connection<Socket, <tls::Connector as MakeTlsConnect<Socket>>::Stream>;

/// Where the store connects and how: tokio-postgres's settings, with the store's timeouts and
/// times in UTC, and the TLS the URL's `sslmode` asks for (`tls.rs`).
#[derive(Clone)]
pub(super) struct ConnectionSettings {
    pub config: tokio_postgres::Config,
    pub tls: tls::Connector,
}

impl ConnectionSettings {
    fn of(url: &str) -> anyhow::Result<ConnectionSettings> {
        // The messages never hold the URL; it is named only redacted.
        let (rest, tls) =
            tls::split_parameters(url).with_context(|| format!("invalid database URL {}", redacted(url)))?;
        let mut config: tokio_postgres::Config =
            rest.parse().map_err(|error| anyhow::anyhow!("invalid database URL {}: {error}", redacted(url)))?;
        config.ssl_mode(tls.ssl_mode());
        // Addresses without names (`hostaddr` alone) are their own names, so that TLS has one.
        if config.get_hosts().is_empty() {
            for address in config.get_hostaddrs().to_vec() {
                config.host(address.to_string());
            }
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A transaction left open by a stuck node would hold the events lock: it is ended.
        let options = format!(
            "{} -c statement_timeout={} -c idle_in_transaction_session_timeout={} -c TimeZone=UTC",
            config.get_options().unwrap_or_default(),
            STATEMENT_TIMEOUT.as_millis(),
            IDLE_IN_TRANSACTION.as_millis()
        );
        config.options(options.trim_start());
        config.keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("xkit-dash");
        }
        let tls = tls.connector().with_context(|| format!("cannot set up TLS for {}", redacted(url)))?;
        Ok(ConnectionSettings { config, tls })
    }

    /// One connection and its driver (to spawn); `url` names it, redacted, in the error.
    async fn connect(&self, url: &str) -> anyhow::Result<(tokio_postgres::Client, Driver)> {
        self.config.connect(self.tls.clone()).await.with_context(|| format!("cannot connect to {}", redacted(url)))
    }
}

/// `url` with its password hidden, for logs and error messages: both the URL form
/// (`postgres://user:secret@host/db`, `?password=`) and the key-value form (`password=secret`).
/// The rest stays as written, even in a URL too broken to parse (a bad port: its error names it).
pub fn redacted(url: &str) -> String {
    const HIDDEN: &str = "********";
    let hide_value = |pair: &str| match pair.split_once('=') {
        Some((key, _)) if key.trim().eq_ignore_ascii_case("password") => format!("{key}={HIDDEN}"),
        _ => pair.to_owned(),
    };
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.split_whitespace().map(hide_value).collect::<Vec<_>>().join(" ");
    };
    let (before_query, query) = rest.split_once('?').map_or((rest, None), |(before, query)| (before, Some(query)));
    // The user information ends at the last `@` of the authority (a password may hold `/`).
    let before_query = match before_query.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:{HIDDEN}@{host}"),
            None => before_query.to_owned(),
        },
        None => before_query.to_owned(),
    };
    match query {
        Some(query) => {
            let query = query.split('&').map(hide_value).collect::<Vec<_>>().join("&");
            format!("{scheme}://{before_query}?{query}")
        }
        None => format!("{scheme}://{before_query}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ConnectionSettings, redacted};

    #[test]
    fn a_bad_url_is_refused_with_why_and_without_its_password() {
        for url in [
            "postgres://app:s3cret@db/xkit?sslmode=verify-everything",
            "postgres://app:s3cret@db/xkit?sslmode=verify-full&sslrootcert=/nowhere.pem",
            "postgres://app:s3cret@db:notaport/xkit",
        ] {
            let error = format!("{:#}", ConnectionSettings::of(url).err().expect(url));
            assert!(error.contains("app:********@db"), "{error}");
            assert!(!error.contains("s3cret"), "{error}");
        }
        let settings = ConnectionSettings::of("postgres://app:s3cret@db/xkit?sslmode=verify-full").unwrap();
        assert_eq!(settings.config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        assert!(settings.config.get_options().unwrap().contains("statement_timeout"));
    }

    #[test]
    fn redacted_hides_the_password_of_every_url_form() {
        assert_eq!(redacted("postgres://app:s3cret@db:5432/xkit"), "postgres://app:********@db:5432/xkit");
        assert_eq!(
            redacted("postgresql://db/xkit?user=app&password=s3cret&sslmode=disable"),
            "postgresql://db/xkit?user=app&password=********&sslmode=disable"
        );
        assert_eq!(
            redacted("host=db user=app password=s3cret dbname=xkit"),
            "host=db user=app password=******** dbname=xkit"
        );
        assert_eq!(redacted("postgres://app@db/xkit"), "postgres://app@db/xkit");
        assert_eq!(redacted("postgres://app:s3/cr@t@db:notaport/xkit"), "postgres://app:********@db:notaport/xkit");
        assert_eq!(
            redacted("postgres://app:s3cret@db/xkit?sslrootcert=%2Fetc%2Fca.pem"),
            "postgres://app:********@db/xkit?sslrootcert=%2Fetc%2Fca.pem",
            "the rest as written"
        );
    }
}
