//! PostgreSQL's `ConnectionStore` (SQLite's: `sqlite/connections.rs`): the reads are
//! `connection_reads.rs`, the export `export.rs`; the two soft removals are here.

use async_trait::async_trait;
use deadpool_postgres::Transaction;

use super::PgStore;
use super::connection_reads::{self as reads, Columns, ConnectionQuery, now};
use crate::model::{Connection, ConnectionFilter, Connector, Health};
use crate::server::store::actor;
use crate::server::store::cursor::{Page, PageRequest};
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::export::{Export, LineEncoder};
use crate::server::store::interface::ConnectionStore;
use crate::server::store::records::Credentials;

#[async_trait]
impl ConnectionStore for PgStore {
    async fn list_connectors(&self, page: PageRequest) -> StoreResult<Page<Connector>> {
        reads::list_connectors(&self.client().await?, &page).await
    }

    async fn connector(&self, slug: String) -> StoreResult<Connector> {
        reads::connector(&self.client().await?, &slug).await
    }

    async fn best_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection> {
        reads::best(&self.client().await?, &external_id, &connector_slug, Credentials::Include).await
    }

    async fn connection_by_id(&self, id: String) -> StoreResult<Connection> {
        reads::by_id(&self.client().await?, &id, Credentials::Include).await
    }

    async fn context_connections(&self, external_id: String, page: PageRequest) -> StoreResult<Page<Connection>> {
        reads::of_context(&self.client().await?, &external_id, &page).await
    }

    async fn list_connections(&self, filter: ConnectionFilter, page: PageRequest) -> StoreResult<Page<Connection>> {
        ConnectionQuery::new(&filter, Columns::Page).page(&self.client().await?, &page).await
    }

    fn export_connections(&self, filter: ConnectionFilter, chunk: usize, encode: LineEncoder) -> StoreResult<Export> {
        let permit = self.inner.export_slots.take()?;
        Ok(super::export::start(self.clone(), permit, filter, chunk, encode))
    }

    async fn disable_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { disable(tx, &external_id, &connector_slug).await })
        })
        .await
    }

    async fn credential_field(&self, slug: String) -> StoreResult<Option<String>> {
        reads::credential_field(&self.client().await?, &slug).await
    }

    async fn context_connection(&self, external_id: String, id: String) -> StoreResult<Connection> {
        reads::connection_of_context(&self.client().await?, &external_id, &id).await
    }

    async fn context_authorization(
        &self,
        external_id: String,
        slug: String,
        authorization_id: i64,
    ) -> StoreResult<Connection> {
        reads::by_authorization(&self.client().await?, &external_id, &slug, authorization_id).await
    }

    async fn disable_context_connection(&self, external_id: String, id: String) -> StoreResult<Connection> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { disable_by_id(tx, &external_id, &id).await })
        })
        .await
    }
}

/// Soft-removes a context's connections to a connector and returns the (now disabled) best one
/// (SQLite: `connections::disable`).
async fn disable(tx: &Transaction<'_>, external_id: &str, slug: &str) -> StoreResult<Connection> {
    let context_id = reads::context_row_id(tx, external_id).await?;
    // Every row first, in seq order, before the first event takes the events lock: the lock
    // order of `authorization_writes.rs` for a statement that changes several connections.
    let statement = tx
        .prepare_cached(
            "SELECT seq FROM connections WHERE context_id = $1 AND connector_slug = $2 ORDER BY seq
             FOR NO KEY UPDATE",
        )
        .await?;
    tx.query(&statement, &[&context_id, &slug]).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE connections SET enabled = FALSE, health = $3, updated_at = $4
             WHERE context_id = $1 AND connector_slug = $2",
        )
        .await?;
    let changed = tx.execute(&statement, &[&context_id, &slug, &(Health::Disabled.rank() as i64), &now()]).await?;
    if changed == 0 {
        reads::connector(tx, slug).await?;
        return Err(StoreError::NotFound(format!("context {external_id:?} has no connection to {slug:?}")));
    }
    reads::best(tx, external_id, slug, Credentials::Omit).await
}

/// Soft-removes a context's connection `id` and returns it, now disabled (SQLite:
/// `client_api::disable_by_id`).
async fn disable_by_id(tx: &Transaction<'_>, external_id: &str, id: &str) -> StoreResult<Connection> {
    let context_id = reads::context_row_id(tx, external_id).await?;
    let statement = tx
        .prepare_cached(
            "UPDATE connections SET enabled = FALSE, health = $3, updated_at = $4 WHERE id = $1 AND context_id = $2",
        )
        .await?;
    let changed = tx.execute(&statement, &[&id, &context_id, &(Health::Disabled.rank() as i64), &now()]).await?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("no connection with id {id:?}")));
    }
    reads::connection_of_context(tx, external_id, id).await
}
