//! The SQLite backend: the platform in one database file of the data directory, in WAL mode.
//!
//! Concurrency: one writer connection (every write is one transaction) and a small pool of
//! read-only connections. SQLite calls are blocking, so each runs on tokio's blocking pool; a
//! semaphore admits at most as many reads as there are reader connections, so waiting happens
//! on the async side rather than by parking blocking threads.
//!
//! The statements live in the store's files by table group (`store/contexts.rs`,
//! `store/connections.rs`...), each taking a `&Db` or a `&Transaction`; this module and its
//! children only hold the connections and implement the store's traits with them.

mod connections;
mod sandbox;
mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection as Db, OpenFlags, Transaction};
use secrecy::SecretSlice;
use tokio::sync::{Semaphore, broadcast, watch};

use super::context_list::{self, ContextQuery};
use super::cursor::{Page, PageRequest};
use super::error::{StoreError, StoreResult};
use super::events::{self, EventFilter};
use super::interface::{EventStore, PlatformStore};
use super::records::{ApiKeyInfo, ImportBatch, ImportReport, StoredApiKey};
use super::stats::{self, StatsWindow};
use super::status_changes::{self, AuthorizationStatusRecord};
use super::{actor, contexts, counters, export, migrations, platform, webhook_outbox};
use crate::model::{Context, EventsPage, Platform, PlatformStats, RefreshCount, StatsHistory};

/// The SQLite backend: one database file in the data directory.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Mutex<Db>,
    readers: Mutex<Vec<Db>>,
    read_permits: Arc<Semaphore>,
    /// Exports running (each on a read connection of its own).
    export_slots: export::ExportSlots,
    /// Authorization status changes, sent after their transaction commits.
    status_changes: broadcast::Sender<AuthorizationStatusRecord>,
    /// The newest committed event's seq, for long-polling readers.
    newest_event: watch::Sender<i64>,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database at `path` with `readers` read
    /// connections. Blocking: call it at startup or from a blocking context.
    pub fn open(path: &Path, readers: usize) -> anyhow::Result<SqliteStore> {
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
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer: Mutex::new(writer),
                readers: Mutex::new(readers),
                read_permits: permits,
                export_slots: export::ExportSlots::default(),
                status_changes: broadcast::channel(status_changes::ANNOUNCED_CHANGES).0,
                newest_event: watch::channel(newest_event).0,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `read` on a pooled read connection, off the async threads.
    pub(super) async fn read<R, F>(&self, read: F) -> StoreResult<R>
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
    pub(super) async fn write<R, F>(&self, write: F) -> StoreResult<R>
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

    /// One transaction whose events name `actor`.
    pub(super) fn write_as<R>(
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
        events::raise_newest(&self.inner.newest_event, newest_event);
        // Sent under the writer's lock, so that subscribers see changes in commit order.
        for change in changed {
            // An error only means that nobody listens right now.
            let _ = self.inner.status_changes.send(change);
        }
        Ok(result)
    }

    /// The writer connection, for tests that look under the store's API.
    #[cfg(test)]
    pub(super) fn writer(&self) -> std::sync::MutexGuard<'_, Db> {
        self.inner.writer.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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

#[async_trait]
impl EventStore for SqliteStore {
    fn subscribe_status_changes(&self) -> broadcast::Receiver<AuthorizationStatusRecord> {
        self.inner.status_changes.subscribe()
    }

    async fn authorization_status(&self, id: i64) -> StoreResult<AuthorizationStatusRecord> {
        self.read(move |db| status_changes::get(db, id))
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no authorization with id {id}")))
    }

    fn subscribe_events(&self) -> watch::Receiver<i64> {
        self.inner.newest_event.subscribe()
    }

    async fn notice_newer_events(&self) -> StoreResult<()> {
        let newest = self.read(events::newest).await?;
        events::raise_newest(&self.inner.newest_event, newest);
        Ok(())
    }

    async fn events(&self, filter: EventFilter, after: Option<String>, limit: usize) -> StoreResult<EventsPage> {
        let after = events::after_seq(after.as_deref())?;
        self.read(move |db| events::list(db, &filter, after, limit)).await
    }

    async fn refresh_counts(&self, since: Option<DateTime<Utc>>) -> StoreResult<Vec<RefreshCount>> {
        self.read(move |db| events::refresh_counts(db, since)).await
    }

    async fn stats_history(&self, window: StatsWindow) -> StoreResult<StatsHistory> {
        self.read(move |db| stats::history(db, window)).await
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        self.write(move |tx| events::prune(tx, before)).await
    }
}

#[async_trait]
impl PlatformStore for SqliteStore {
    async fn platform(&self) -> StoreResult<Platform> {
        self.read(platform::get).await
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        self.read(platform::is_empty).await
    }

    async fn import(&self, batch: ImportBatch) -> StoreResult<ImportReport> {
        self.write(move |tx| platform::import(tx, &batch)).await
    }

    async fn add_api_key(&self, publishable_key: String, secret_sha256: [u8; 32]) -> StoreResult<()> {
        self.write(move |tx| platform::add_api_key(tx, &publishable_key, &secret_sha256)).await
    }

    async fn api_key(&self, publishable_key: String) -> StoreResult<Option<StoredApiKey>> {
        self.read(move |db| platform::api_key(db, &publishable_key)).await
    }

    async fn touch_api_key(&self, publishable_key: String) -> StoreResult<()> {
        self.write(move |tx| platform::touch_api_key(tx, &publishable_key)).await
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyInfo>> {
        self.read(platform::api_keys).await
    }

    async fn revoke_api_key(&self, publishable_key: String) -> StoreResult<()> {
        self.write(move |tx| platform::revoke_api_key(tx, &publishable_key)).await
    }

    async fn add_web_origin(&self, origin: String) -> StoreResult<bool> {
        self.write(move |tx| platform::add_web_origin(tx, &origin)).await
    }

    async fn web_origins(&self) -> StoreResult<Vec<String>> {
        self.read(platform::web_origins).await
    }

    async fn remove_web_origin(&self, origin: String) -> StoreResult<()> {
        self.write(move |tx| platform::remove_web_origin(tx, &origin)).await
    }

    async fn is_web_origin(&self, origin: String) -> StoreResult<bool> {
        self.read(move |db| platform::is_web_origin(db, &origin)).await
    }

    async fn upsert_context(&self, context: Context) -> StoreResult<Context> {
        self.write(move |tx| contexts::upsert(tx, &context)).await
    }

    async fn upsert_contexts(&self, batch: Vec<Context>) -> StoreResult<Context> {
        self.write(move |tx| {
            let mut stored = None;
            for context in &batch {
                stored = Some(contexts::upsert(tx, context)?);
            }
            stored.ok_or_else(|| StoreError::Invalid("no context given".into()))
        })
        .await
    }

    async fn update_context(&self, external_id: String, update: Context) -> StoreResult<Context> {
        self.write(move |tx| contexts::update(tx, &external_id, &update)).await
    }

    async fn context(&self, external_id: String) -> StoreResult<Context> {
        self.read(move |db| contexts::get(db, &external_id)).await
    }

    async fn list_contexts(&self, query: ContextQuery, page: PageRequest) -> StoreResult<Page<Context>> {
        self.read(move |db| context_list::list(db, &query, &page)).await
    }

    async fn shared_signing_key(&self, _candidate: SecretSlice<u8>) -> StoreResult<Option<SecretSlice<u8>>> {
        Ok(None)
    }

    async fn stats(&self) -> StoreResult<PlatformStats> {
        self.read(counters::stats).await
    }
}
