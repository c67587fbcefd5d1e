//! SQLite's connections and token lifecycle: listings, the credential reads, refreshes, the
//! catalog's and xkit.js's authorization flows, repair links and one-time tokens (statements in
//! `store/connections.rs`, `store/authorizations.rs`, `store/client_api.rs`,
//! `store/refresh_schedule.rs`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::{SqliteStore, open_connection};
use crate::model::{Connection, ConnectionFilter, Connector};
use crate::server::store::authorizations::{
    self, Claim, IssuedTokens, NewFlow, ProviderFailure, RefreshState, RepairGrant, ReturningFlow,
};
use crate::server::store::cursor::{Page, PageRequest};
use crate::server::store::error::StoreResult;
use crate::server::store::interface::{AuthorizationStore, ConnectionStore};
use crate::server::store::records::{ConnectorOAuth, Credentials};
use crate::server::store::{client_api, connections, events, export, refresh_schedule};

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn list_connectors(&self, page: PageRequest) -> StoreResult<Page<Connector>> {
        self.read(move |db| connections::list_connectors(db, &page)).await
    }

    async fn connector(&self, slug: String) -> StoreResult<Connector> {
        self.read(move |db| connections::connector(db, &slug)).await
    }

    async fn best_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection> {
        self.read(move |db| connections::best(db, &external_id, &connector_slug, Credentials::Include)).await
    }

    async fn connection_by_id(&self, id: String) -> StoreResult<Connection> {
        self.read(move |db| connections::by_id(db, &id, Credentials::Include)).await
    }

    async fn context_connections(&self, external_id: String, page: PageRequest) -> StoreResult<Page<Connection>> {
        self.read(move |db| connections::of_context(db, &external_id, &page)).await
    }

    async fn list_connections(&self, filter: ConnectionFilter, page: PageRequest) -> StoreResult<Page<Connection>> {
        self.read(move |db| connections::list(db, &filter, &page)).await
    }

    fn export_connections(
        &self,
        filter: ConnectionFilter,
        chunk: usize,
        encode: export::LineEncoder,
    ) -> StoreResult<export::Export> {
        let permit = self.inner.export_slots.take()?;
        let db = open_connection(&self.inner.path, true)?;
        Ok(export::start(db, permit, filter, chunk, encode))
    }

    async fn disable_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection> {
        self.write(move |tx| connections::disable(tx, &external_id, &connector_slug)).await
    }

    async fn credential_field(&self, slug: String) -> StoreResult<Option<String>> {
        self.read(move |db| client_api::credential_field(db, &slug)).await
    }

    async fn context_connection(&self, external_id: String, id: String) -> StoreResult<Connection> {
        self.read(move |db| client_api::connection_of_context(db, &external_id, &id)).await
    }

    async fn context_authorization(
        &self,
        external_id: String,
        slug: String,
        authorization_id: i64,
    ) -> StoreResult<Connection> {
        self.read(move |db| client_api::by_authorization(db, &external_id, &slug, authorization_id)).await
    }

    async fn disable_context_connection(&self, external_id: String, id: String) -> StoreResult<Connection> {
        self.write(move |tx| client_api::disable_by_id(tx, &external_id, &id)).await
    }
}

#[async_trait]
impl AuthorizationStore for SqliteStore {
    async fn connector_oauth(&self, slug: String) -> StoreResult<Option<ConnectorOAuth>> {
        self.read(move |db| authorizations::connector_oauth(db, &slug)).await
    }

    async fn refresh_state(&self, id: String) -> StoreResult<RefreshState> {
        self.read(move |db| authorizations::refresh_state(db, &id)).await
    }

    async fn save_refreshed_tokens(&self, id: String, used: SecretString, tokens: IssuedTokens) -> StoreResult<bool> {
        self.write(move |tx| authorizations::save_refreshed(tx, &id, &used, &tokens)).await
    }

    async fn fail_refresh(&self, id: String, used: SecretString, failure: ProviderFailure) -> StoreResult<bool> {
        self.write(move |tx| authorizations::fail_refresh(tx, &id, &used, &failure)).await
    }

    async fn record_refresh_error(&self, id: String, message: String, retry_at: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |tx| {
            authorizations::record_refresh_error(tx, &id, &message)?;
            events::add_retry_time(tx, &id, retry_at)
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

    async fn begin_client_authorization(
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

    async fn begin_field_authorization(
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

    async fn submit_fields(
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

    async fn add_one_time_token(
        &self,
        token_sha256: [u8; 32],
        external_id: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(move |tx| client_api::add_one_time_token(tx, &token_sha256, &external_id, expires_at)).await
    }

    async fn take_one_time_token(&self, token_sha256: [u8; 32]) -> StoreResult<Option<String>> {
        self.write(move |tx| client_api::take_one_time_token(tx, &token_sha256)).await
    }

    async fn flow_context(&self, state: String) -> StoreResult<Option<String>> {
        self.read(move |db| authorizations::flow_context(db, &state)).await
    }

    async fn take_flow(&self, state: String) -> StoreResult<Option<ReturningFlow>> {
        self.write(move |tx| authorizations::take_flow(tx, &state)).await
    }

    async fn complete_authorization(&self, id: String, state: String, tokens: IssuedTokens) -> StoreResult<bool> {
        self.write(move |tx| authorizations::complete_authorization(tx, &id, &state, &tokens)).await
    }

    async fn fail_authorization(&self, id: String, state: String, failure: ProviderFailure) -> StoreResult<bool> {
        self.write(move |tx| authorizations::fail_authorization(tx, &id, &state, &failure)).await
    }

    async fn add_repair_token(
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

    async fn repair_grant(&self, token_sha256: [u8; 32]) -> StoreResult<Option<RepairGrant>> {
        self.read(move |db| authorizations::repair_grant(db, &token_sha256)).await
    }

    async fn due_for_refresh(
        &self,
        now: DateTime<Utc>,
        margin: chrono::Duration,
        idle_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        self.read(move |db| refresh_schedule::due(db, now, margin, idle_before, limit)).await
    }

    async fn claim_refresh(
        &self,
        id: String,
        used: SecretString,
        expires_at: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(move |tx| authorizations::claim_refresh(tx, &id, &used, expires_at, until)).await
    }
}
