//! PostgreSQL's `AuthorizationStore` (SQLite's: `sqlite/connections.rs`): each method one read
//! on a pooled connection or one transaction, with the statements of `refreshes.rs` and
//! `flows.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::authorization_writes::{FailureGuard, fail_with};
use super::connection_reads::connector_oauth;
use super::{PgStore, flows, refreshes};
use crate::server::store::actor;
use crate::server::store::authorizations::{
    Claim, IssuedTokens, NewFlow, ProviderFailure, RefreshState, RepairGrant, ReturningFlow,
};
use crate::server::store::error::StoreResult;
use crate::server::store::interface::AuthorizationStore;
use crate::server::store::records::ConnectorOAuth;

#[async_trait]
impl AuthorizationStore for PgStore {
    async fn connector_oauth(&self, slug: String) -> StoreResult<Option<ConnectorOAuth>> {
        connector_oauth(&self.client().await?, &slug).await
    }

    async fn refresh_state(&self, id: String) -> StoreResult<RefreshState> {
        refreshes::refresh_state(&self.client().await?, &id).await
    }

    async fn save_refreshed_tokens(&self, id: String, used: SecretString, tokens: IssuedTokens) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { refreshes::save_refreshed(tx, &id, &used, &tokens).await })
        })
        .await
    }

    async fn fail_refresh(&self, id: String, used: SecretString, failure: ProviderFailure) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { refreshes::fail_refresh(tx, &id, &used, &failure).await })
        })
        .await
    }

    async fn record_refresh_error(&self, id: String, message: String, retry_at: DateTime<Utc>) -> StoreResult<()> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { refreshes::record_refresh_error(tx, &id, &message, retry_at).await })
        })
        .await
    }

    async fn due_for_refresh(
        &self,
        now: DateTime<Utc>,
        margin: chrono::Duration,
        idle_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        refreshes::due(&self.client().await?, now, margin, idle_before, limit).await
    }

    async fn claim_refresh(
        &self,
        id: String,
        used: SecretString,
        expires_at: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { refreshes::claim_refresh(tx, &id, &used, expires_at, until).await })
        })
        .await
    }

    async fn begin_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        flow: NewFlow,
        repair_token: Option<[u8; 32]>,
    ) -> StoreResult<String> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                flows::begin_authorization(
                    tx,
                    &external_id,
                    &connector_slug,
                    connection_id.as_deref(),
                    &flow,
                    repair_token.as_ref(),
                    Claim::ExistingOnly,
                )
                .await
            })
        })
        .await
    }

    async fn begin_client_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        flow: NewFlow,
    ) -> StoreResult<String> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                flows::begin_authorization(
                    tx,
                    &external_id,
                    &connector_slug,
                    connection_id.as_deref(),
                    &flow,
                    None,
                    Claim::CreateMissing,
                )
                .await
            })
        })
        .await
    }

    async fn begin_field_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        state: String,
    ) -> StoreResult<String> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                flows::begin_field_authorization(tx, &external_id, &connector_slug, connection_id.as_deref(), &state)
                    .await
            })
        })
        .await
    }

    async fn submit_fields(
        &self,
        external_id: String,
        connector_slug: String,
        state: String,
        credential: SecretString,
    ) -> StoreResult<Option<String>> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                flows::submit_fields(tx, &external_id, &connector_slug, &state, credential.expose_secret()).await
            })
        })
        .await
    }

    async fn add_one_time_token(
        &self,
        token_sha256: [u8; 32],
        external_id: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { flows::add_one_time_token(tx, &token_sha256, &external_id, expires_at).await })
        })
        .await
    }

    async fn take_one_time_token(&self, token_sha256: [u8; 32]) -> StoreResult<Option<String>> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { flows::take_one_time_token(tx, &token_sha256).await })
        })
        .await
    }

    async fn flow_context(&self, state: String) -> StoreResult<Option<String>> {
        flows::flow_context(&self.client().await?, &state).await
    }

    async fn take_flow(&self, state: String) -> StoreResult<Option<ReturningFlow>> {
        self.write(actor::current().as_deref(), move |tx| Box::pin(async move { flows::take_flow(tx, &state).await }))
            .await
    }

    async fn complete_authorization(&self, id: String, state: String, tokens: IssuedTokens) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { flows::complete_authorization(tx, &id, &state, &tokens).await })
        })
        .await
    }

    async fn fail_authorization(&self, id: String, state: String, failure: ProviderFailure) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { fail_with(tx, &id, &failure, FailureGuard::State, &state).await })
        })
        .await
    }

    async fn add_repair_token(
        &self,
        token_sha256: [u8; 32],
        external_id: String,
        connector_slug: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                flows::add_repair_token(tx, &token_sha256, &external_id, &connector_slug, expires_at).await
            })
        })
        .await
    }

    async fn repair_grant(&self, token_sha256: [u8; 32]) -> StoreResult<Option<RepairGrant>> {
        flows::repair_grant(&self.client().await?, &token_sha256).await
    }
}
