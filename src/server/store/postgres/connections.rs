//! PLACEHOLDER, replaced by its engineer: PostgreSQL's ConnectionStore.
#![allow(clippy::all, unused_imports)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{SecretSlice, SecretString};
use tokio::sync::{broadcast, watch};

use super::PgStore;
use crate::model::{
    Connection, ConnectionFilter, Connector, Context, EventsPage, Platform, PlatformStats, RefreshCount, StatsHistory,
    Webhook, WebhookDelivery,
};
use crate::server::store::*;

#[async_trait]
impl ConnectionStore for PgStore {
    async fn list_connectors(&self, _page: PageRequest) -> StoreResult<Page<Connector>> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn connector(&self, _slug: String) -> StoreResult<Connector> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn best_connection(&self, _external_id: String, _connector_slug: String) -> StoreResult<Connection> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn connection_by_id(&self, _id: String) -> StoreResult<Connection> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn context_connections(&self, _external_id: String, _page: PageRequest) -> StoreResult<Page<Connection>> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn list_connections(&self, _filter: ConnectionFilter, _page: PageRequest) -> StoreResult<Page<Connection>> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    fn export_connections(
        &self,
        _filter: ConnectionFilter,
        _chunk: usize,
        _encode: export::LineEncoder,
    ) -> StoreResult<export::Export> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn disable_connection(&self, _external_id: String, _connector_slug: String) -> StoreResult<Connection> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn credential_field(&self, _slug: String) -> StoreResult<Option<String>> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn context_connection(&self, _external_id: String, _id: String) -> StoreResult<Connection> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn context_authorization(
        &self,
        _external_id: String,
        _slug: String,
        _authorization_id: i64,
    ) -> StoreResult<Connection> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }

    async fn disable_context_connection(&self, _external_id: String, _id: String) -> StoreResult<Connection> {
        unimplemented!("PostgreSQL: ConnectionStore (in progress)")
    }
}
