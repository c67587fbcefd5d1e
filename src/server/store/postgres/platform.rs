//! PLACEHOLDER, replaced by its engineer: PostgreSQL's PlatformStore.
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
impl PlatformStore for PgStore {
    async fn platform(&self) -> StoreResult<Platform> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn import(&self, _batch: ImportBatch) -> StoreResult<ImportReport> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn add_api_key(&self, _publishable_key: String, _secret_sha256: [u8; 32]) -> StoreResult<()> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn api_key(&self, _publishable_key: String) -> StoreResult<Option<StoredApiKey>> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn touch_api_key(&self, _publishable_key: String) -> StoreResult<()> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyInfo>> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn revoke_api_key(&self, _publishable_key: String) -> StoreResult<()> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn add_web_origin(&self, _origin: String) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn web_origins(&self) -> StoreResult<Vec<String>> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn remove_web_origin(&self, _origin: String) -> StoreResult<()> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn is_web_origin(&self, _origin: String) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn upsert_context(&self, _context: Context) -> StoreResult<Context> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn upsert_contexts(&self, _batch: Vec<Context>) -> StoreResult<Context> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn update_context(&self, _external_id: String, _update: Context) -> StoreResult<Context> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn context(&self, _external_id: String) -> StoreResult<Context> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn list_contexts(&self, _query: ContextQuery, _page: PageRequest) -> StoreResult<Page<Context>> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn shared_signing_key(&self, _candidate: SecretSlice<u8>) -> StoreResult<Option<SecretSlice<u8>>> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }

    async fn stats(&self) -> StoreResult<PlatformStats> {
        unimplemented!("PostgreSQL: PlatformStore (in progress)")
    }
}
