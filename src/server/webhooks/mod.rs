//! Signed webhooks: endpoints (added by `xkit-dash webhooks` or `POST /api/platform/webhooks`),
//! the delivery worker that drains the durable outbox the store's triggers fill, the signature,
//! and the SSRF rules of their targets.

mod command;
pub mod signature;
pub mod target;
mod worker;

use std::time::Duration;

use secrecy::SecretString;

pub use command::{WebhooksCommand, run};
pub(super) use worker::spawn_worker;

use super::secret::random_token;
use super::store::NewWebhook;

/// The event types an endpoint may ask for (`webhook.test` always reaches the endpoint tested).
pub const EVENT_TYPES: &[&str] = &[
    "connection.created",
    "connection.enabled",
    "connection.disabled",
    "connection.error",
    "connection.recovered",
    "connection.repaired",
    "connection.refresh_failed",
    "connection.deleted",
    "context.created",
    "key.created",
    "key.revoked",
    "origin.added",
    "origin.removed",
    "webhook.created",
    "webhook.removed",
    "webhook.enabled",
    "webhook.disabled",
];

/// How webhooks are delivered.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Disable an endpoint whose every delivery failed for this long.
    pub disable_after: Duration,
    /// Allow loopback and private targets (also implied by listening on loopback).
    pub allow_private: bool,
    /// One request's limit, connection included.
    pub request_timeout: Duration,
    /// The wait after a first failure; each further failure doubles it, up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            disable_after: Duration::from_secs(24 * 3600),
            allow_private: false,
            request_timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(3600),
        }
    }
}

/// A new endpoint and its secret, shown once: the URL checked against the SSRF rules now
/// (delivery checks again), the event types against [`EVENT_TYPES`].
pub async fn new_endpoint(
    url: &str,
    events: Option<Vec<String>>,
    allow_private: bool,
) -> Result<(NewWebhook, SecretString), String> {
    let url = target::check_new_url(url, allow_private).await?;
    let events = match events {
        Some(events) => {
            let events: Vec<String> =
                events.iter().map(|event| event.trim().to_owned()).filter(|event| !event.is_empty()).collect();
            if let Some(unknown) = events.iter().find(|event| !EVENT_TYPES.contains(&event.as_str())) {
                return Err(format!("unknown event type {unknown:?}; known: {}", EVENT_TYPES.join(", ")));
            }
            if events.is_empty() {
                return Err("name at least one event type (or none, for every type)".into());
            }
            Some(events)
        }
        None => None,
    };
    let secret = format!("whsec_{}", random_token(32));
    let webhook =
        NewWebhook { id: format!("wh_{}", random_token(9)), url: url.to_string(), secret: secret.clone(), events };
    Ok((webhook, SecretString::from(secret)))
}

/// The first attempt at event `event_id` to endpoint `webhook`, once a worker has made it
/// (`None` if none did within `wait`). Polled: the worker may run in another process.
pub async fn first_attempt(
    store: &super::store::Store,
    webhook: &str,
    event_id: &str,
    wait: Duration,
) -> super::store::StoreResult<Option<crate::model::WebhookDelivery>> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let attempts = store.webhook_deliveries(Some(webhook.to_owned()), Some(event_id.to_owned()), 1000).await?;
        if let Some(first) = attempts.into_iter().last() {
            return Ok(Some(first));
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
