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
mod connection_settings;
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
use tokio_util::task::AbortOnDropHandle;

use super::error::StoreResult;
use super::export::ExportSlots;
use super::migrations::SchemaStatus;
use super::platform::{DEFAULT_NAME, DEFAULT_SLUG};
use super::status_changes::{ANNOUNCED_CHANGES, AuthorizationStatusRecord};
use connection_settings::ConnectionSettings;
pub use connection_settings::{CONNECT_TIMEOUT, IDLE_IN_TRANSACTION, STATEMENT_TIMEOUT, redacted, single_connection};

/// How long a request waits for a free pooled connection.
pub const POOL_WAIT: Duration = Duration::from_secs(2);

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
