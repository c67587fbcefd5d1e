//! PLACEHOLDER, replaced by its engineer: PostgreSQL's SandboxStore.
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
impl SandboxStore for PgStore {
    async fn sandbox_client(&self, _client_id: String) -> StoreResult<Option<SandboxClient>> {
        unimplemented!("PostgreSQL: SandboxStore (in progress)")
    }

    async fn sandbox_add_code(&self, _code: NewCode) -> StoreResult<()> {
        unimplemented!("PostgreSQL: SandboxStore (in progress)")
    }

    async fn sandbox_exchange_code(
        &self,
        _client_id: String,
        _code: SecretString,
        _redirect_uri: Option<String>,
        _code_verifier: Option<String>,
        _new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
        unimplemented!("PostgreSQL: SandboxStore (in progress)")
    }

    async fn sandbox_refresh(
        &self,
        _client_id: String,
        _refresh_token: SecretString,
        _new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
        unimplemented!("PostgreSQL: SandboxStore (in progress)")
    }

    async fn sandbox_revoke_token(&self, _client_id: String, _token: SecretString) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: SandboxStore (in progress)")
    }

    async fn sandbox_revoke_grant(&self, _grant_id: i64) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: SandboxStore (in progress)")
    }

    async fn sandbox_grants(&self, _limit: usize) -> StoreResult<Vec<SandboxGrantView>> {
        unimplemented!("PostgreSQL: SandboxStore (in progress)")
    }
}
