//! PLACEHOLDER, replaced by its engineer: PostgreSQL's AuthorizationStore.
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
impl AuthorizationStore for PgStore {
    async fn connector_oauth(&self, _slug: String) -> StoreResult<Option<ConnectorOAuth>> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn refresh_state(&self, _id: String) -> StoreResult<RefreshState> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn save_refreshed_tokens(
        &self,
        _id: String,
        _used: SecretString,
        _tokens: IssuedTokens,
    ) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn fail_refresh(&self, _id: String, _used: SecretString, _failure: ProviderFailure) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn record_refresh_error(&self, _id: String, _message: String, _retry_at: DateTime<Utc>) -> StoreResult<()> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn due_for_refresh(
        &self,
        _now: DateTime<Utc>,
        _margin: chrono::Duration,
        _idle_before: DateTime<Utc>,
        _limit: usize,
    ) -> StoreResult<Vec<String>> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn claim_refresh(
        &self,
        _id: String,
        _used: SecretString,
        _expires_at: Option<DateTime<Utc>>,
        _until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn begin_authorization(
        &self,
        _external_id: String,
        _connector_slug: String,
        _connection_id: Option<String>,
        _flow: NewFlow,
        _repair_token: Option<[u8; 32]>,
    ) -> StoreResult<String> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn begin_client_authorization(
        &self,
        _external_id: String,
        _connector_slug: String,
        _connection_id: Option<String>,
        _flow: NewFlow,
    ) -> StoreResult<String> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn begin_field_authorization(
        &self,
        _external_id: String,
        _connector_slug: String,
        _connection_id: Option<String>,
        _state: String,
    ) -> StoreResult<String> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn submit_fields(
        &self,
        _external_id: String,
        _connector_slug: String,
        _state: String,
        _credential: SecretString,
    ) -> StoreResult<Option<String>> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn add_one_time_token(
        &self,
        _token_sha256: [u8; 32],
        _external_id: String,
        _expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn take_one_time_token(&self, _token_sha256: [u8; 32]) -> StoreResult<Option<String>> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn flow_context(&self, _state: String) -> StoreResult<Option<String>> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn take_flow(&self, _state: String) -> StoreResult<Option<ReturningFlow>> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn complete_authorization(&self, _id: String, _state: String, _tokens: IssuedTokens) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn fail_authorization(&self, _id: String, _state: String, _failure: ProviderFailure) -> StoreResult<bool> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn add_repair_token(
        &self,
        _token_sha256: [u8; 32],
        _external_id: String,
        _connector_slug: String,
        _expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }

    async fn repair_grant(&self, _token_sha256: [u8; 32]) -> StoreResult<Option<RepairGrant>> {
        unimplemented!("PostgreSQL: AuthorizationStore (in progress)")
    }
}
