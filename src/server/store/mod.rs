//! The platform's persistent store: SQLite in WAL mode behind one narrow, async API.
//!
//! Routes only see [`Store`]'s methods and the record types below, never SQL, so another
//! backend (PostgreSQL, for deployments that outgrow one machine) can follow.
//!
//! Concurrency: one writer connection (every write is one transaction) and a small pool of
//! read-only connections. SQLite calls are blocking, so each runs on tokio's blocking pool; a
//! semaphore admits at most as many reads as there are reader connections, so waiting happens
//! on the async side rather than by parking blocking threads.

pub mod actor;
mod authorizations;
mod bulk_import;
mod client_api;
mod connections;
mod context_list;
mod contexts;
mod counters;
mod cursor;
mod error;
mod events;
pub mod export;
pub mod migrations;
mod platform;
pub mod postgres;
mod records;
mod refresh_schedule;
mod sandbox;
mod sandbox_store;
mod schema;
mod sql;
mod stats;
mod status_changes;
mod webhook_outbox;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rusqlite::{Connection as Db, OpenFlags, Transaction};
use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::{Semaphore, broadcast, watch};

use crate::model::{
    Connection, ConnectionFilter, Connector, Context, EventsPage, Platform, PlatformStats, RefreshCount, StatsHistory,
};

/// Tests compute PKCE challenges with the sandbox's own definition.
pub use crate::server::secret::pkce_s256;
pub use authorizations::{Claim, IssuedTokens, NewFlow, ProviderFailure, RefreshState, RepairGrant, ReturningFlow};
pub use context_list::{ContextQuery, ContextSort};
pub use cursor::{Page, PageRequest};
pub use error::{StoreError, StoreResult};
pub use events::EventFilter;
pub use migrations::{NewerSchema, SchemaStatus};
pub use records::{
    ApiKeyInfo, AuthorizationRecord, ConnectorOAuth, ConnectorRecord, Credentials, ImportBatch, ImportReport,
    NewConnection, SandboxSeed, StoredApiKey,
};
pub use sandbox::{
    NewCode, SandboxClient, SandboxClientConfig, SandboxGrantSeed, SandboxGrantView, SandboxIssued, SandboxRefusal,
};
pub use stats::StatsWindow;
pub use status_changes::AuthorizationStatusRecord;
pub use webhook_outbox::{AttemptResult, EndpointAfter, NewWebhook, OutboxHead};

#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Db>,
    readers: Mutex<Vec<Db>>,
    read_permits: Arc<Semaphore>,
    /// Exports running (each on a read connection of its own).
    export_permits: Arc<Semaphore>,
    /// Authorization status changes, sent after their transaction commits.
    status_changes: broadcast::Sender<AuthorizationStatusRecord>,
    /// The newest committed event's seq, for long-polling readers.
    newest_event: watch::Sender<i64>,
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path` with `readers` read
    /// connections. Blocking: call it at startup or from a blocking context.
    pub fn open(path: &Path, readers: usize) -> anyhow::Result<Store> {
        // Before anything touches the file: a newer binary's database is left as it is.
        migrations::refuse_newer(path)?;
        keep_private(path)?;
        let mut writer = open_connection(path, false)?;
        migrations::migrate(&mut writer, path)?;
        platform::ensure_default_platform(&writer)?;
        status_changes::watch(&writer).context("cannot watch authorization status changes")?;
        events::watch(&writer).context("cannot record events")?;
        webhook_outbox::watch(&writer).context("cannot queue webhooks")?;
        counters::watch(&writer).context("cannot keep the platform's counters")?;
        let newest_event = events::newest(&writer)?;
        let readers = (0..readers.max(1)).map(|_| open_connection(path, true)).collect::<anyhow::Result<Vec<_>>>()?;
        let permits = Arc::new(Semaphore::new(readers.len()));
        Ok(Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
                read_permits: permits,
                export_permits: Arc::new(Semaphore::new(export::MAX_EXPORTS)),
                status_changes: broadcast::channel(status_changes::ANNOUNCED_CHANGES).0,
                newest_event: watch::channel(newest_event).0,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `read` on a pooled read connection, off the async threads.
    async fn read<R, F>(&self, read: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Db) -> StoreResult<R> + Send + 'static,
    {
        let permit = self.inner.read_permits.clone().acquire_owned().await.map_err(anyhow::Error::from)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let lease = ReaderLease::take(&inner);
            read(lease.db())
        })
        .await
        .map_err(anyhow::Error::from)?
    }

    /// Runs `write` in one transaction on the writer connection, off the async threads.
    async fn write<R, F>(&self, write: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<R> + Send + 'static,
    {
        let store = self.clone();
        let actor = actor::current();
        tokio::task::spawn_blocking(move || store.write_as(actor.as_deref(), write))
            .await
            .map_err(anyhow::Error::from)?
    }

    /// The blocking form of [`Store::write`], for command-line tools that have no runtime:
    /// their events name the actor `cli`.
    fn write_blocking<R>(&self, write: impl FnOnce(&Transaction<'_>) -> StoreResult<R>) -> StoreResult<R> {
        self.write_as(Some(actor::CLI), write)
    }

    /// One transaction whose events name `actor`.
    fn write_as<R>(
        &self,
        actor: Option<&str>,
        write: impl FnOnce(&Transaction<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let mut db = self.inner.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let transaction = db.transaction()?;
        actor::set(&transaction, actor)?;
        let result = write(&transaction)?;
        webhook_outbox::settle(&transaction)?;
        let changed = status_changes::take(&transaction)?;
        let newest_event = events::newest(&transaction)?;
        transaction.commit()?;
        self.inner.newest_event.send_if_modified(|newest| std::mem::replace(newest, newest_event) != newest_event);
        // Sent under the writer's lock, so that subscribers see changes in commit order.
        for change in changed {
            // An error only means that nobody listens right now.
            let _ = self.inner.status_changes.send(change);
        }
        Ok(result)
    }

    /// Every authorization status change from now on, once committed (see `status_changes`).
    pub fn subscribe_status_changes(&self) -> broadcast::Receiver<AuthorizationStatusRecord> {
        self.inner.status_changes.subscribe()
    }

    /// The current status of authorization `id` and its context; `NotFound` when there is none.
    pub async fn authorization_status(&self, id: i64) -> StoreResult<AuthorizationStatusRecord> {
        self.read(move |db| status_changes::get(db, id))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no authorization with id {id}")))
    }

    /// Wakes when events newer than the ones seen so far are committed.
    pub fn subscribe_events(&self) -> watch::Receiver<i64> {
        self.inner.newest_event.subscribe()
    }

    /// Reads the newest event's seq from the database and wakes the long-pollers if it grew:
    /// events committed by another process on the same database (`keys revoke`, `origins
    /// add`), which this store's writes do not see.
    pub async fn notice_newer_events(&self) -> StoreResult<()> {
        let newest = self.read(events::newest).await?;
        self.inner.newest_event.send_if_modified(|seen| {
            let newer = newest > *seen;
            if newer {
                *seen = newest;
            }
            newer
        });
        Ok(())
    }

    /// Events after the cursor `after` (from the start without one) matching `filter`, oldest first.
    pub async fn events(&self, filter: EventFilter, after: Option<String>, limit: usize) -> StoreResult<EventsPage> {
        let after = events::after_seq(after.as_deref())?;
        self.read(move |db| events::list(db, &filter, after, limit)).await
    }

    /// Successful refreshes per hour, of the hours that ended at or after `since`.
    pub async fn refresh_counts(&self, since: Option<DateTime<Utc>>) -> StoreResult<Vec<RefreshCount>> {
        self.read(move |db| events::refresh_counts(db, since)).await
    }

    /// Errors, recoveries, refreshes and transient failures per bucket of `window` and connector.
    pub async fn stats_history(&self, window: StatsWindow) -> StoreResult<StatsHistory> {
        self.read(move |db| stats::history(db, window)).await
    }

    /// Deletes the events that occurred before `before`; how many.
    pub async fn prune_events(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        self.write(move |tx| events::prune(tx, before)).await
    }

    // ---- platform, keys, seeding -------------------------------------------------------------

    pub async fn platform(&self) -> StoreResult<Platform> {
        self.read(platform::get).await
    }

    /// True until something has been imported or created (used to seed the demo only once).
    pub async fn is_empty(&self) -> StoreResult<bool> {
        self.read(platform::is_empty).await
    }

    pub async fn import(&self, batch: ImportBatch) -> StoreResult<ImportReport> {
        self.write(move |tx| platform::import(tx, &batch)).await
    }

    /// Stores a key pair's publishable key with the SHA-256 of its secret (blocking).
    pub fn add_api_key_blocking(&self, publishable_key: &str, secret_sha256: [u8; 32]) -> StoreResult<()> {
        self.write_blocking(|tx| platform::add_api_key(tx, publishable_key, &secret_sha256))
    }

    /// The stored secret hash of a publishable key and when it was last used, if the key exists.
    pub async fn api_key(&self, publishable_key: String) -> StoreResult<Option<StoredApiKey>> {
        self.read(move |db| platform::api_key(db, &publishable_key)).await
    }

    /// Records that a key was used now.
    pub async fn touch_api_key(&self, publishable_key: String) -> StoreResult<()> {
        self.write(move |tx| platform::touch_api_key(tx, &publishable_key)).await
    }

    /// Every key, oldest first, without secrets (blocking).
    pub fn api_keys_blocking(&self) -> StoreResult<Vec<ApiKeyInfo>> {
        let db = self.inner.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        platform::api_keys(&db)
    }

    /// Deletes a key; `NotFound` if there is none by that name (blocking).
    pub fn revoke_api_key_blocking(&self, publishable_key: &str) -> StoreResult<()> {
        self.write_blocking(|tx| platform::revoke_api_key(tx, publishable_key))
    }

    /// Adds a web origin allowed to call the Platform User API; false if it was there (blocking).
    pub fn add_web_origin_blocking(&self, origin: &str) -> StoreResult<bool> {
        self.write_blocking(|tx| platform::add_web_origin(tx, origin))
    }

    /// The allowed web origins, sorted (blocking).
    pub fn web_origins_blocking(&self) -> StoreResult<Vec<String>> {
        let db = self.inner.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        platform::web_origins(&db)
    }

    /// Removes a web origin; `NotFound` if it is not in the list (blocking).
    pub fn remove_web_origin_blocking(&self, origin: &str) -> StoreResult<()> {
        self.write_blocking(|tx| platform::remove_web_origin(tx, origin))
    }

    /// Whether pages of `origin` may call the Platform User API.
    pub async fn is_web_origin(&self, origin: String) -> StoreResult<bool> {
        self.read(move |db| platform::is_web_origin(db, &origin)).await
    }

    // ---- contexts ----------------------------------------------------------------------------

    /// Creates or updates a context by `external_id`: a given `external_name` replaces the old
    /// one, given attributes are merged over the stored ones.
    pub async fn upsert_context(&self, context: Context) -> StoreResult<Context> {
        self.write(move |tx| contexts::upsert(tx, &context)).await
    }

    /// Upserts several contexts in one transaction and returns the last one as stored.
    pub async fn upsert_contexts(&self, batch: Vec<Context>) -> StoreResult<Context> {
        self.write(move |tx| {
            let mut stored = None;
            for context in &batch {
                stored = Some(contexts::upsert(tx, context)?);
            }
            stored.ok_or_else(|| StoreError::Invalid("no context given".into()))
        })
        .await
    }

    /// Updates the context `external_id`, possibly renaming it to `update.external_id`.
    pub async fn update_context(&self, external_id: String, update: Context) -> StoreResult<Context> {
        self.write(move |tx| contexts::update(tx, &external_id, &update)).await
    }

    pub async fn context(&self, external_id: String) -> StoreResult<Context> {
        self.read(move |db| contexts::get(db, &external_id)).await
    }

    /// Contexts with their health and connection count, filtered and sorted as `query` asks.
    pub async fn list_contexts(&self, query: ContextQuery, page: PageRequest) -> StoreResult<Page<Context>> {
        self.read(move |db| context_list::list(db, &query, &page)).await
    }

    /// The platform's totals, from the counters the writer keeps (`counters`).
    pub async fn stats(&self) -> StoreResult<PlatformStats> {
        self.read(counters::stats).await
    }

    // ---- connectors --------------------------------------------------------------------------

    pub async fn list_connectors(&self, page: PageRequest) -> StoreResult<Page<Connector>> {
        self.read(move |db| connections::list_connectors(db, &page)).await
    }

    pub async fn connector(&self, slug: String) -> StoreResult<Connector> {
        self.read(move |db| connections::connector(db, &slug)).await
    }

    // ---- connections -------------------------------------------------------------------------

    /// The healthiest connection of a context to a connector, with its credential when active.
    pub async fn best_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection> {
        self.read(move |db| connections::best(db, &external_id, &connector_slug, Credentials::Include)).await
    }

    pub async fn connection_by_id(&self, id: String) -> StoreResult<Connection> {
        self.read(move |db| connections::by_id(db, &id, Credentials::Include)).await
    }

    /// A context's enabled connections, without credentials.
    pub async fn context_connections(&self, external_id: String, page: PageRequest) -> StoreResult<Page<Connection>> {
        self.read(move |db| connections::of_context(db, &external_id, &page)).await
    }

    /// Every connection across contexts, without credentials, each with its context.
    pub async fn list_connections(&self, filter: ConnectionFilter, page: PageRequest) -> StoreResult<Page<Connection>> {
        self.read(move |db| connections::list(db, &filter, &page)).await
    }

    /// Starts streaming every connection `filter` selects, without credentials, as lines
    /// `encode` writes, `chunk` rows at a time from a read connection of its own (see
    /// [`export`]); `Busy` when
    /// [`export::MAX_EXPORTS`] already run. Call within a tokio runtime.
    pub fn export_connections(
        &self,
        filter: ConnectionFilter,
        chunk: usize,
        encode: export::LineEncoder,
    ) -> StoreResult<export::Export> {
        let permit = self.inner.export_permits.clone().try_acquire_owned().map_err(|_| {
            StoreError::Busy(format!("{} exports are running; try again when one ends", export::MAX_EXPORTS))
        })?;
        let db = open_connection(&self.inner.path, true)?;
        Ok(export::start(db, permit, filter, chunk, encode))
    }

    /// Soft-removes a context's connections to a connector and returns the (now disabled) one.
    pub async fn disable_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection> {
        self.write(move |tx| connections::disable(tx, &external_id, &connector_slug)).await
    }

    // ---- token lifecycle (refresh, catalog authorization, repair links) ----------------------
    // (what the scheduler should refresh, and the refresh claims: `refresh_schedule`)

    /// A connector's private OAuth settings, `None` when it has none.
    pub async fn connector_oauth(&self, slug: String) -> StoreResult<Option<ConnectorOAuth>> {
        self.read(move |db| authorizations::connector_oauth(db, &slug)).await
    }

    /// What a refresh of connection `id` needs: status, expiry, refresh token, OAuth settings.
    pub async fn refresh_state(&self, id: String) -> StoreResult<RefreshState> {
        self.read(move |db| authorizations::refresh_state(db, &id)).await
    }

    /// Saves refreshed tokens (a rotated refresh token replaces `used`, none keeps it) in one
    /// transaction; false if `used` is no longer the stored refresh token.
    pub async fn save_refreshed_tokens(
        &self,
        id: String,
        used: SecretString,
        tokens: IssuedTokens,
    ) -> StoreResult<bool> {
        self.write(move |tx| authorizations::save_refreshed(tx, &id, &used, &tokens)).await
    }

    /// A permanent refresh failure: `error` with the provider's code and message, no credential;
    /// false if `used` is no longer the stored refresh token.
    pub async fn fail_refresh(&self, id: String, used: SecretString, failure: ProviderFailure) -> StoreResult<bool> {
        self.write(move |tx| authorizations::fail_refresh(tx, &id, &used, &failure)).await
    }

    /// A transient refresh failure, reported as `refresh_error`; nothing else changes. Its
    /// `connection.refresh_failed` event says when the next attempt may be (`retry_at`).
    pub async fn record_refresh_error(&self, id: String, message: String, retry_at: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |tx| {
            authorizations::record_refresh_error(tx, &id, &message)?;
            events::add_retry_time(tx, &id, retry_at)
        })
        .await
    }

    /// Puts a connection (`connection_id`, or a new one) in `awaiting_callback` for `flow`,
    /// spending `repair_token` in the same transaction (`Conflict` if it is already spent).
    pub async fn begin_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        flow: NewFlow,
        repair_token: Option<[u8; 32]>,
    ) -> StoreResult<String> {
        self.write(move |tx| {
            authorizations::begin_authorization(
                tx,
                &external_id,
                &connector_slug,
                connection_id.as_deref(),
                &flow,
                repair_token.as_ref(),
                Claim::ExistingOnly,
            )
        })
        .await
    }

    /// [`Store::begin_authorization`] for xkit.js's `POST /connections/:slug`: an id that names
    /// no connection yet creates one under it (`addConnection(slug, id)`), and no link is spent.
    pub async fn begin_client_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        flow: NewFlow,
    ) -> StoreResult<String> {
        self.write(move |tx| {
            authorizations::begin_authorization(
                tx,
                &external_id,
                &connector_slug,
                connection_id.as_deref(),
                &flow,
                None,
                Claim::CreateMissing,
            )
        })
        .await
    }

    /// Starts a field authorization (API-key connectors) waiting for `state`; the connection id.
    pub async fn begin_field_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        state: String,
    ) -> StoreResult<String> {
        self.write(move |tx| {
            authorizations::begin_field_authorization(
                tx,
                &external_id,
                &connector_slug,
                connection_id.as_deref(),
                &state,
            )
        })
        .await
    }

    /// Completes the context's field authorization waiting with `state`; the connection id, or
    /// `None` when none waits with it.
    pub async fn submit_fields(
        &self,
        external_id: String,
        connector_slug: String,
        state: String,
        credential: SecretString,
    ) -> StoreResult<Option<String>> {
        self.write(move |tx| {
            authorizations::submit_fields(tx, &external_id, &connector_slug, &state, credential.expose_secret())
        })
        .await
    }

    /// The field a connector collects as its credential (API-key connectors), `None` for others.
    pub async fn credential_field(&self, slug: String) -> StoreResult<Option<String>> {
        self.read(move |db| client_api::credential_field(db, &slug)).await
    }

    /// A context's connection `id`, without credential; `NotFound` for another context's.
    pub async fn context_connection(&self, external_id: String, id: String) -> StoreResult<Connection> {
        self.read(move |db| client_api::connection_of_context(db, &external_id, &id)).await
    }

    /// The context's connection to `slug` holding authorization `authorization_id`.
    pub async fn context_authorization(
        &self,
        external_id: String,
        slug: String,
        authorization_id: i64,
    ) -> StoreResult<Connection> {
        self.read(move |db| client_api::by_authorization(db, &external_id, &slug, authorization_id)).await
    }

    /// Soft-removes a context's connection `id` (`NotFound` for another context's).
    pub async fn disable_context_connection(&self, external_id: String, id: String) -> StoreResult<Connection> {
        self.write(move |tx| client_api::disable_by_id(tx, &external_id, &id)).await
    }

    /// Stores (the hash of) a one-time token that names a context until `expires_at`.
    pub async fn add_one_time_token(
        &self,
        token_sha256: [u8; 32],
        external_id: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |tx| client_api::add_one_time_token(tx, &token_sha256, &external_id, expires_at)).await
    }

    /// Spends a one-time token: its context's `external_id`, or `None` if unknown, spent or expired.
    pub async fn take_one_time_token(&self, token_sha256: [u8; 32]) -> StoreResult<Option<String>> {
        self.write(move |tx| client_api::take_one_time_token(tx, &token_sha256)).await
    }

    /// The context whose flow `state` is, while the flow is stored (the flow is left in place).
    pub async fn flow_context(&self, state: String) -> StoreResult<Option<String>> {
        self.read(move |db| authorizations::flow_context(db, &state)).await
    }

    /// Takes the flow of a callback's `state` (single use), moving it to `retrieving_tokens`.
    pub async fn take_flow(&self, state: String) -> StoreResult<Option<ReturningFlow>> {
        self.write(move |tx| authorizations::take_flow(tx, &state)).await
    }

    pub async fn complete_authorization(&self, id: String, state: String, tokens: IssuedTokens) -> StoreResult<bool> {
        self.write(move |tx| authorizations::complete_authorization(tx, &id, &state, &tokens)).await
    }

    pub async fn fail_authorization(&self, id: String, state: String, failure: ProviderFailure) -> StoreResult<bool> {
        self.write(move |tx| authorizations::fail_authorization(tx, &id, &state, &failure)).await
    }

    /// Stores (the hash of) a repair token for a context and connector.
    pub async fn add_repair_token(
        &self,
        token_sha256: [u8; 32],
        external_id: String,
        connector_slug: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |tx| {
            authorizations::add_repair_token(tx, &token_sha256, &external_id, &connector_slug, expires_at)
        })
        .await
    }

    pub async fn repair_grant(&self, token_sha256: [u8; 32]) -> StoreResult<Option<RepairGrant>> {
        self.read(move |db| authorizations::repair_grant(db, &token_sha256)).await
    }
}

/// A read connection borrowed from the pool; returned on drop, even if the read panicked.
struct ReaderLease<'a> {
    inner: &'a Inner,
    db: Option<Db>,
}

impl<'a> ReaderLease<'a> {
    fn take(inner: &'a Inner) -> Self {
        let db = inner.readers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).pop();
        Self { inner, db }
    }

    fn db(&self) -> &Db {
        // The semaphore has exactly as many permits as there are reader connections.
        self.db.as_ref().expect("a read permit guarantees an idle reader connection")
    }
}

impl Drop for ReaderLease<'_> {
    fn drop(&mut self) {
        if let Some(db) = self.db.take() {
            self.inner.readers.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(db);
        }
    }
}

/// The database holds refresh tokens and client secrets: it is created with mode 0600 before
/// SQLite opens it, and files a looser version left behind are tightened. SQLite creates its
/// `-wal` and `-shm` files later, with the mode of the database file itself (whatever the umask),
/// so a private database keeps them private too, in this process and in any other.
fn keep_private(path: &Path) -> anyhow::Result<()> {
    crate::server::private_file::create_or_restrict(path)?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        let companion = PathBuf::from(companion);
        if companion.exists() {
            crate::server::private_file::restrict(&companion)?;
        }
    }
    Ok(())
}

fn open_connection(path: &Path, read_only: bool) -> anyhow::Result<Db> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    let db = Db::open_with_flags(path, flags).with_context(|| format!("cannot open database {}", path.display()))?;
    db.busy_timeout(Duration::from_secs(5))?;
    db.set_prepared_statement_cache_capacity(64);
    // FULL: a transaction acknowledged to a client survives a crash of the machine, not only
    // of the process. Writes are rare next to reads, so the extra fsync is cheap.
    db.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .context("cannot configure the database")?;
    if read_only {
        db.execute_batch("PRAGMA query_only = ON;")?;
    }
    Ok(db)
}
