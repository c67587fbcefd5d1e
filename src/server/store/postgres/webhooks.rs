//! PLACEHOLDER, replaced by its engineer: PostgreSQL's WebhookStore.
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
impl WebhookStore for PgStore {
    async fn add_webhook(&self, _webhook: NewWebhook) -> StoreResult<Webhook> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn remove_webhook(&self, _id: String) -> StoreResult<Webhook> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn enable_webhook(&self, _id: String) -> StoreResult<Webhook> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn queue_webhook_test(&self, _id: String) -> StoreResult<String> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn webhook_deliveries(
        &self,
        _webhook: Option<String>,
        _event: Option<String>,
        _limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn webhook_queue_heads(&self) -> StoreResult<Vec<OutboxHead>> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn record_webhook_attempt(
        &self,
        _result: AttemptResult,
        _disable_after: std::time::Duration,
    ) -> StoreResult<EndpointAfter> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn webhook_private_targets_allowed(&self) -> StoreResult<Option<bool>> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }

    async fn set_webhook_private_targets_allowed(&self, _allowed: bool) -> StoreResult<()> {
        unimplemented!("PostgreSQL: WebhookStore (in progress)")
    }
}
