//! The platform's persistent store behind one narrow, async interface (`interface.rs`): one
//! trait per resource, which every route, the refresher, the catalog, the sandbox, the scheduler
//! and the webhook worker use through a [`Store`] handle, never SQL.
//!
//! Two backends implement it: SQLite in the data directory (`sqlite/`, the default, whose
//! statements live in this folder's files by table group) and PostgreSQL (`postgres/`), on which
//! several server nodes share one platform.

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
mod interface;
pub mod migrations;
mod platform;
pub mod postgres;
mod records;
mod refresh_schedule;
mod sandbox;
mod schema;
mod sql;
mod sqlite;
mod stats;
mod status_changes;
mod webhook_outbox;

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

/// Tests compute PKCE challenges with the sandbox's own definition.
pub use crate::server::secret::pkce_s256;
pub use authorizations::{Claim, IssuedTokens, NewFlow, ProviderFailure, RefreshState, RepairGrant, ReturningFlow};
pub use context_list::{ContextQuery, ContextSort};
pub use cursor::{Page, PageRequest};
pub use error::{StoreError, StoreResult};
pub use events::EventFilter;
pub use interface::{
    AuthorizationStore, Backend, ConnectionStore, EventStore, PlatformStore, SandboxStore, WebhookStore,
};
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
pub use webhook_outbox::{AttemptResult, EndpointAfter, NewWebhook, OutboxClaim, OutboxHead};

pub use sqlite::SqliteStore;

/// A handle on the platform's store, whichever backend holds it; cheap to clone. Every method
/// of the store's traits is called on it directly (`store.context(id).await`).
#[derive(Clone)]
pub struct Store(Arc<dyn Backend>);

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database at `path` with `readers`
    /// read connections. Blocking: call it at startup or from a blocking context.
    pub fn open(path: &Path, readers: usize) -> anyhow::Result<Store> {
        Ok(Store(Arc::new(SqliteStore::open(path, readers)?)))
    }

    /// Connects to the PostgreSQL database at `url` (migrating it if needed) with up to
    /// `pool_size` pooled connections.
    pub async fn connect_postgres(url: &str, pool_size: usize) -> anyhow::Result<Store> {
        Ok(Store(Arc::new(postgres::PgStore::connect(url, pool_size).await?)))
    }
}

impl Deref for Store {
    type Target = dyn Backend;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref()
    }
}
