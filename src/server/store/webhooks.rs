//! [`Store`]'s webhook methods: endpoints, the outbox the delivery worker drains, and the
//! attempts it records (statements and triggers in `webhook_outbox`).

use super::Store;
use super::error::StoreResult;
use super::webhook_outbox::{self, AttemptResult, EndpointAfter, NewWebhook, OutboxHead};
use crate::model::{Webhook, WebhookDelivery};

impl Store {
    /// Adds an endpoint (a `webhook.created` event).
    pub async fn add_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook> {
        self.write(move |tx| webhook_outbox::add(tx, &webhook)).await
    }

    /// Every endpoint, oldest first, without secrets.
    pub async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        self.read(webhook_outbox::list).await
    }

    /// Removes an endpoint, its queue and its attempts (a `webhook.removed` event).
    pub async fn remove_webhook(&self, id: String) -> StoreResult<Webhook> {
        self.write(move |tx| webhook_outbox::remove(tx, &id)).await
    }

    /// Enables a disabled endpoint again.
    pub async fn enable_webhook(&self, id: String) -> StoreResult<Webhook> {
        self.write(move |tx| webhook_outbox::enable(tx, &id)).await
    }

    /// Queues a `webhook.test` event for endpoint `id` only; the event's id.
    pub async fn queue_webhook_test(&self, id: String) -> StoreResult<String> {
        self.write(move |tx| webhook_outbox::queue_test(tx, &id)).await
    }

    /// Delivery attempts, newest first, narrowed to an endpoint and an event when given.
    pub async fn webhook_deliveries(
        &self,
        webhook: Option<String>,
        event: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        self.read(move |db| webhook_outbox::deliveries(db, webhook.as_deref(), event.as_deref(), limit)).await
    }

    /// The next delivery of every enabled endpoint.
    pub async fn webhook_queue_heads(&self) -> StoreResult<Vec<OutboxHead>> {
        self.read(webhook_outbox::heads).await
    }

    /// Records a delivery attempt and its consequences (see `webhook_outbox::record_attempt`).
    pub async fn record_webhook_attempt(
        &self,
        result: AttemptResult,
        disable_after: std::time::Duration,
    ) -> StoreResult<EndpointAfter> {
        let disable_after = chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::MAX);
        self.write(move |tx| webhook_outbox::record_attempt(tx, &result, disable_after)).await
    }

    /// Whether the server last started here accepts private webhook targets (`None`: none started).
    pub async fn webhook_private_targets_allowed(&self) -> StoreResult<Option<bool>> {
        self.read(webhook_outbox::private_targets_allowed).await
    }

    /// Notes the running server's rule for private webhook targets, for `webhooks add`.
    pub async fn set_webhook_private_targets_allowed(&self, allowed: bool) -> StoreResult<()> {
        self.write(move |tx| webhook_outbox::set_private_targets_allowed(tx, allowed)).await
    }
}
