//! The store's interface: what routes, the refresher, the catalog, the sandbox, the scheduler and
//! the webhook worker may ask of the database, whichever backend holds it (SQLite in the data
//! directory, `sqlite.rs`; PostgreSQL for several nodes, `postgres/`). One trait per resource
//! keeps each readable; [`Backend`] is all of them, and [`Store`](super::Store) hands out a
//! `dyn Backend`, so a caller never names a backend.
//!
//! Every write is one transaction and writes its events (with the actor of
//! [`acting_as`](super::actor::acting_as)) in it; reads never see a half-done write.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{SecretSlice, SecretString};
use tokio::sync::{broadcast, watch};

use super::authorizations::{IssuedTokens, NewFlow, ProviderFailure, RefreshState, RepairGrant, ReturningFlow};
use super::context_list::ContextQuery;
use super::cursor::{Page, PageRequest};
use super::error::StoreResult;
use super::events::EventFilter;
use super::export;
use super::records::{ApiKeyInfo, ConnectorOAuth, ImportBatch, ImportReport, StoredApiKey};
use super::sandbox::{NewCode, SandboxClient, SandboxGrantView, SandboxIssued, SandboxRefusal};
use super::stats::StatsWindow;
use super::status_changes::AuthorizationStatusRecord;
use super::webhook_outbox::{AttemptResult, EndpointAfter, NewWebhook, OutboxClaim};
use crate::model::{
    Connection, ConnectionFilter, Connector, Context, EventsPage, Platform, PlatformStats, RefreshCount, StatsHistory,
    Webhook, WebhookDelivery,
};

/// Everything a server node asks of its database.
pub trait Backend:
    EventStore + PlatformStore + ConnectionStore + AuthorizationStore + SandboxStore + WebhookStore
{
}

impl<T> Backend for T where
    T: EventStore + PlatformStore + ConnectionStore + AuthorizationStore + SandboxStore + WebhookStore
{
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Every authorization status change from now on, once committed .
    fn subscribe_status_changes(&self) -> broadcast::Receiver<AuthorizationStatusRecord>;
    /// The current status of authorization `id` and its context; `NotFound` when there is none.
    async fn authorization_status(&self, id: i64) -> StoreResult<AuthorizationStatusRecord>;
    /// Wakes when events newer than the ones seen so far are committed.
    fn subscribe_events(&self) -> watch::Receiver<i64>;
    /// Reads the newest event's seq from the database and wakes the long-pollers if it grew:
    /// events committed by another process on the same database (`keys revoke`, `origins
    /// add`), which this store's own writes do not announce.
    async fn notice_newer_events(&self) -> StoreResult<()>;
    /// Events after the cursor `after` (from the start without one) matching `filter`, oldest first.
    async fn events(&self, filter: EventFilter, after: Option<String>, limit: usize) -> StoreResult<EventsPage>;
    /// Successful refreshes per hour, of the hours that ended at or after `since`.
    async fn refresh_counts(&self, since: Option<DateTime<Utc>>) -> StoreResult<Vec<RefreshCount>>;
    /// Errors, recoveries, refreshes and transient failures per bucket of `window` and connector.
    async fn stats_history(&self, window: StatsWindow) -> StoreResult<StatsHistory>;
    /// Deletes the events that occurred before `before`; how many.
    async fn prune_events(&self, before: DateTime<Utc>) -> StoreResult<usize>;
}

#[async_trait]
pub trait PlatformStore: Send + Sync {
    async fn platform(&self) -> StoreResult<Platform>;
    /// True until something has been imported or created (used to seed the demo only once).
    async fn is_empty(&self) -> StoreResult<bool>;
    async fn import(&self, batch: ImportBatch) -> StoreResult<ImportReport>;
    /// Stores a key pair's publishable key with the SHA-256 of its secret.
    async fn add_api_key(&self, publishable_key: String, secret_sha256: [u8; 32]) -> StoreResult<()>;
    /// The stored secret hash of a publishable key and when it was last used, if the key exists.
    async fn api_key(&self, publishable_key: String) -> StoreResult<Option<StoredApiKey>>;
    /// Records that a key was used now.
    async fn touch_api_key(&self, publishable_key: String) -> StoreResult<()>;
    /// Every key, oldest first, without secrets.
    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyInfo>>;
    /// Deletes a key; `NotFound` if there is none by that name.
    async fn revoke_api_key(&self, publishable_key: String) -> StoreResult<()>;
    /// Adds a web origin allowed to call the Platform User API; false if it was there.
    async fn add_web_origin(&self, origin: String) -> StoreResult<bool>;
    /// The allowed web origins, sorted.
    async fn web_origins(&self) -> StoreResult<Vec<String>>;
    /// Removes a web origin; `NotFound` if it is not in the list.
    async fn remove_web_origin(&self, origin: String) -> StoreResult<()>;
    /// Whether pages of `origin` may call the Platform User API.
    async fn is_web_origin(&self, origin: String) -> StoreResult<bool>;
    /// Creates or updates a context by `external_id`: a given `external_name` replaces the old
    /// one, given attributes are merged over the stored ones.
    async fn upsert_context(&self, context: Context) -> StoreResult<Context>;
    /// Upserts several contexts in one transaction and returns the last one as stored.
    async fn upsert_contexts(&self, batch: Vec<Context>) -> StoreResult<Context>;
    /// Updates the context `external_id`, possibly renaming it to `update.external_id`.
    async fn update_context(&self, external_id: String, update: Context) -> StoreResult<Context>;
    async fn context(&self, external_id: String) -> StoreResult<Context>;
    /// Contexts with their health and connection count, filtered and sorted as `query` asks.
    async fn list_contexts(&self, query: ContextQuery, page: PageRequest) -> StoreResult<Page<Context>>;
    /// The context-token signing key every node of the platform shares, storing `candidate` if
    /// there is none yet; `None` when the backend leaves the key to the data directory (SQLite:
    /// one node, and the key stays out of database backups).
    async fn shared_signing_key(&self, candidate: SecretSlice<u8>) -> StoreResult<Option<SecretSlice<u8>>>;
    /// The platform's totals, from the counters the writer keeps (`counters`).
    async fn stats(&self) -> StoreResult<PlatformStats>;
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn list_connectors(&self, page: PageRequest) -> StoreResult<Page<Connector>>;
    async fn connector(&self, slug: String) -> StoreResult<Connector>;
    /// The healthiest connection of a context to a connector, with its credential when active.
    async fn best_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection>;
    async fn connection_by_id(&self, id: String) -> StoreResult<Connection>;
    /// A context's enabled connections, without credentials.
    async fn context_connections(&self, external_id: String, page: PageRequest) -> StoreResult<Page<Connection>>;
    /// Every connection across contexts, without credentials, each with its context.
    async fn list_connections(&self, filter: ConnectionFilter, page: PageRequest) -> StoreResult<Page<Connection>>;
    /// Starts streaming every connection `filter` selects, without credentials, as lines
    /// `encode` writes, `chunk` rows at a time from a read connection of its own (see
    /// [`export`]; PostgreSQL: one keyset query per chunk, `postgres/export.rs`); `Busy` when
    /// [`export::MAX_EXPORTS`] already run. Call within a tokio runtime.
    fn export_connections(
        &self,
        filter: ConnectionFilter,
        chunk: usize,
        encode: export::LineEncoder,
    ) -> StoreResult<export::Export>;
    /// Soft-removes a context's connections to a connector and returns the (now disabled) one.
    async fn disable_connection(&self, external_id: String, connector_slug: String) -> StoreResult<Connection>;
    /// The field a connector collects as its credential (API-key connectors), `None` for others.
    async fn credential_field(&self, slug: String) -> StoreResult<Option<String>>;
    /// A context's connection `id`, without credential; `NotFound` for another context's.
    async fn context_connection(&self, external_id: String, id: String) -> StoreResult<Connection>;
    /// The context's connection to `slug` holding authorization `authorization_id`.
    async fn context_authorization(
        &self,
        external_id: String,
        slug: String,
        authorization_id: i64,
    ) -> StoreResult<Connection>;
    /// Soft-removes a context's connection `id` (`NotFound` for another context's).
    async fn disable_context_connection(&self, external_id: String, id: String) -> StoreResult<Connection>;
}

#[async_trait]
pub trait AuthorizationStore: Send + Sync {
    /// A connector's private OAuth settings, `None` when it has none.
    async fn connector_oauth(&self, slug: String) -> StoreResult<Option<ConnectorOAuth>>;
    /// What a refresh of connection `id` needs: status, expiry, refresh token, OAuth settings.
    async fn refresh_state(&self, id: String) -> StoreResult<RefreshState>;
    /// Saves refreshed tokens (a rotated refresh token replaces `used`, none keeps it) in one
    /// transaction; false if `used` is no longer the stored refresh token.
    async fn save_refreshed_tokens(&self, id: String, used: SecretString, tokens: IssuedTokens) -> StoreResult<bool>;
    /// A permanent refresh failure: `error` with the provider's code and message, no credential;
    /// false if `used` is no longer the stored refresh token.
    async fn fail_refresh(&self, id: String, used: SecretString, failure: ProviderFailure) -> StoreResult<bool>;
    /// A transient refresh failure, reported as `refresh_error`; nothing else changes. Its
    /// `connection.refresh_failed` event says when the next attempt may be (`retry_at`).
    async fn record_refresh_error(&self, id: String, message: String, retry_at: DateTime<Utc>) -> StoreResult<()>;
    /// Connections due for a proactive refresh: expiring within `margin` of `now`, or not
    /// refreshed since `idle_before`; most urgent first, at most `limit`.
    async fn due_for_refresh(
        &self,
        now: DateTime<Utc>,
        margin: chrono::Duration,
        idle_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<Vec<String>>;
    /// Claims the next refresh of connection `id` until `until`, if its refresh token and
    /// expiry are still `used` and `expires_at`; false while another process's claim runs or
    /// after someone refreshed it. Saving the refresh's result (tokens, error, transient
    /// failure) ends the claim.
    async fn claim_refresh(
        &self,
        id: String,
        used: SecretString,
        expires_at: Option<DateTime<Utc>>,
        until: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Puts a connection (`connection_id`, or a new one) in `awaiting_callback` for `flow`,
    /// spending `repair_token` in the same transaction (`Conflict` if it is already spent).
    async fn begin_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        flow: NewFlow,
        repair_token: Option<[u8; 32]>,
    ) -> StoreResult<String>;
    /// [`Store::begin_authorization`] for xkit.js's `POST /connections/:slug`: an id that names
    /// no connection yet creates one under it (`addConnection(slug, id)`), and no link is spent.
    async fn begin_client_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        flow: NewFlow,
    ) -> StoreResult<String>;
    /// Starts a field authorization (API-key connectors) waiting for `state`; the connection id.
    async fn begin_field_authorization(
        &self,
        external_id: String,
        connector_slug: String,
        connection_id: Option<String>,
        state: String,
    ) -> StoreResult<String>;
    /// Completes the context's field authorization waiting with `state`; the connection id, or
    /// `None` when none waits with it.
    async fn submit_fields(
        &self,
        external_id: String,
        connector_slug: String,
        state: String,
        credential: SecretString,
    ) -> StoreResult<Option<String>>;
    /// Stores (the hash of) a one-time token that names a context until `expires_at`.
    async fn add_one_time_token(
        &self,
        token_sha256: [u8; 32],
        external_id: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Spends a one-time token: its context's `external_id`, or `None` if unknown, spent or expired.
    async fn take_one_time_token(&self, token_sha256: [u8; 32]) -> StoreResult<Option<String>>;
    /// The context whose flow `state` is, while the flow is stored (the flow is left in place).
    async fn flow_context(&self, state: String) -> StoreResult<Option<String>>;
    /// Takes the flow of a callback's `state` (single use), moving it to `retrieving_tokens`.
    async fn take_flow(&self, state: String) -> StoreResult<Option<ReturningFlow>>;
    async fn complete_authorization(&self, id: String, state: String, tokens: IssuedTokens) -> StoreResult<bool>;
    async fn fail_authorization(&self, id: String, state: String, failure: ProviderFailure) -> StoreResult<bool>;
    /// Stores (the hash of) a repair token for a context and connector.
    async fn add_repair_token(
        &self,
        token_sha256: [u8; 32],
        external_id: String,
        connector_slug: String,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn repair_grant(&self, token_sha256: [u8; 32]) -> StoreResult<Option<RepairGrant>>;
}

#[async_trait]
pub trait SandboxStore: Send + Sync {
    async fn sandbox_client(&self, client_id: String) -> StoreResult<Option<SandboxClient>>;
    async fn sandbox_add_code(&self, code: NewCode) -> StoreResult<()>;
    /// `grant_type=authorization_code`: on success a grant exists whose refresh token is
    /// `new_refresh_token`.
    async fn sandbox_exchange_code(
        &self,
        client_id: String,
        code: SecretString,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>>;
    /// `grant_type=refresh_token` with rotation and reuse detection.
    async fn sandbox_refresh(
        &self,
        client_id: String,
        refresh_token: SecretString,
        new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>>;
    async fn sandbox_revoke_token(&self, client_id: String, token: SecretString) -> StoreResult<bool>;
    async fn sandbox_revoke_grant(&self, grant_id: i64) -> StoreResult<bool>;
    async fn sandbox_grants(&self, limit: usize) -> StoreResult<Vec<SandboxGrantView>>;
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Adds an endpoint (a `webhook.created` event).
    async fn add_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook>;
    /// Every endpoint, oldest first, without secrets.
    async fn webhooks(&self) -> StoreResult<Vec<Webhook>>;
    /// Removes an endpoint, its queue and its attempts (a `webhook.removed` event).
    async fn remove_webhook(&self, id: String) -> StoreResult<Webhook>;
    /// Enables a disabled endpoint again.
    async fn enable_webhook(&self, id: String) -> StoreResult<Webhook>;
    /// Queues a `webhook.test` event for endpoint `id` only; the event's id.
    async fn queue_webhook_test(&self, id: String) -> StoreResult<String>;
    /// Delivery attempts, newest first, narrowed to an endpoint and an event when given.
    async fn webhook_deliveries(
        &self,
        webhook: Option<String>,
        event: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>>;
    /// Claims the next delivery of every enabled endpoint not in `busy` that is due, at most
    /// `limit`, for `lease`: no other worker (on any node) gets those rows until the lease ends
    /// or the attempt is recorded; a worker that dies mid-delivery leaves them due again when the
    /// lease ends. One delivery per endpoint at a time, in queue order.
    async fn claim_webhook_deliveries(
        &self,
        busy: Vec<String>,
        limit: usize,
        lease: std::time::Duration,
    ) -> StoreResult<OutboxClaim>;
    /// Records a delivery attempt and its consequences, ending its claim (see
    /// `webhook_outbox::record_attempt`).
    async fn record_webhook_attempt(
        &self,
        result: AttemptResult,
        disable_after: std::time::Duration,
    ) -> StoreResult<EndpointAfter>;
    /// Whether the server last started here accepts private webhook targets (`None`: none started).
    async fn webhook_private_targets_allowed(&self) -> StoreResult<Option<bool>>;
    /// Notes the running server's rule for private webhook targets, for `webhooks add`.
    async fn set_webhook_private_targets_allowed(&self, allowed: bool) -> StoreResult<()>;
}
