//! New endpoints (their checks, id and secret) and the outcome of a test, shared by the command
//! line and the API routes.

use std::time::Duration;

use secrecy::SecretString;

use super::target;
use crate::model::WebhookDelivery;
use crate::server::secret::random_token;
use crate::server::store::{NewWebhook, Store, StoreResult};

/// Longest webhook URL accepted.
const MAX_URL_CHARS: usize = 2048;

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
    "platform.imported",
    "key.created",
    "key.revoked",
    "origin.added",
    "origin.removed",
    "webhook.created",
    "webhook.removed",
    "webhook.enabled",
    "webhook.disabled",
];

/// A new endpoint and its secret, shown once: the URL checked against the SSRF rules now
/// (delivery checks again), the event types against [`EVENT_TYPES`].
pub async fn new_endpoint(
    url: &str,
    events: Option<Vec<String>>,
    allow_private: bool,
) -> Result<(NewWebhook, SecretString), String> {
    if url.len() > MAX_URL_CHARS {
        return Err(format!("a webhook URL is at most {MAX_URL_CHARS} characters"));
    }
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
    // Last: it resolves the host.
    let url = target::check_new_url(url, allow_private).await?;
    let secret = format!("whsec_{}", random_token(32));
    let webhook =
        NewWebhook { id: format!("wh_{}", random_token(9)), url: url.to_string(), secret: secret.clone(), events };
    Ok((webhook, SecretString::from(secret)))
}

/// The first attempt at event `event_id` to endpoint `webhook`, once a worker has made it
/// (`None` if none did within `wait`). Polled: the worker may run in another process.
pub async fn first_attempt(
    store: &Store,
    webhook: &str,
    event_id: &str,
    wait: Duration,
) -> StoreResult<Option<WebhookDelivery>> {
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
