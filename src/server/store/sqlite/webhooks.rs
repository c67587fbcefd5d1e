//! SQLite's webhook methods: endpoints, the outbox the delivery worker drains, and the
//! attempts it records (statements and triggers in `store/webhook_outbox.rs`).

use async_trait::async_trait;

use super::SqliteStore;
use crate::model::{Webhook, WebhookDelivery};
use crate::server::store::error::StoreResult;
use crate::server::store::interface::WebhookStore;
use crate::server::store::webhook_outbox::{self, AttemptResult, EndpointAfter, NewWebhook, OutboxClaim};

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn add_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook> {
        self.write(move |tx| webhook_outbox::add(tx, &webhook)).await
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        self.read(webhook_outbox::list).await
    }

    async fn remove_webhook(&self, id: String) -> StoreResult<Webhook> {
        self.write(move |tx| webhook_outbox::remove(tx, &id)).await
    }

    async fn enable_webhook(&self, id: String) -> StoreResult<Webhook> {
        self.write(move |tx| webhook_outbox::enable(tx, &id)).await
    }

    async fn queue_webhook_test(&self, id: String) -> StoreResult<String> {
        self.write(move |tx| webhook_outbox::queue_test(tx, &id)).await
    }

    async fn webhook_deliveries(
        &self,
        webhook: Option<String>,
        event: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.read(move |db| webhook_outbox::deliveries(db, webhook.as_deref(), event.as_deref(), limit)).await
    }

    async fn claim_webhook_deliveries(
        &self,
        busy: Vec<String>,
        limit: usize,
        lease: std::time::Duration,
    ) -> StoreResult<OutboxClaim> {
        let (busy, peeked) = self
            .read(move |db| {
                let peeked = webhook_outbox::peek_claim(db, &busy, limit)?;
                Ok((busy, peeked))
            })
            .await?;
        if peeked.deliveries.is_empty() {
            return Ok(peeked);
        }
        self.write(move |tx| webhook_outbox::claim(tx, &busy, limit, lease)).await
    }

    async fn record_webhook_attempt(
        &self,
        result: AttemptResult,
        disable_after: std::time::Duration,
    ) -> StoreResult<EndpointAfter> {
        let disable_after = chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::MAX);
        self.write(move |tx| webhook_outbox::record_attempt(tx, &result, disable_after)).await
    }

    async fn webhook_private_targets_allowed(&self) -> StoreResult<Option<bool>> {
        self.read(webhook_outbox::private_targets_allowed).await
    }

    async fn set_webhook_private_targets_allowed(&self, allowed: bool) -> StoreResult<()> {
        self.write(move |tx| webhook_outbox::set_private_targets_allowed(tx, allowed)).await
    }
}
