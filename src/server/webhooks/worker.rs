//! The delivery worker: drains the outbox, one request at a time per endpoint (the head of an
//! endpoint's queue holds back the rest of that endpoint only), several endpoints at once.
//! Wakes on every committed event (this process's writes) and every second (another process's,
//! such as `xkit-dash webhooks test`, and retries that come due). A row leaves the outbox only
//! once a 2xx answer is recorded, so a crash mid-delivery sends it again: at least once.
//!
//! Several nodes on one database each run a worker: a delivery is claimed for a lease longer
//! than a request may take ([`lease`]), so no other worker sends it meanwhile, and a worker
//! killed mid-delivery leaves it due again when the lease ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::settings::WebhookSettings;
use super::signature::signature_header;
use super::target::{CheckedResolver, check_literal_host, parse_url};
use crate::server::store::{AttemptResult, EndpointAfter, OutboxClaim, OutboxHead, Store};

/// How often the outbox is looked at without a wake-up.
const POLL: Duration = Duration::from_secs(1);
/// Endpoints delivered to at the same time.
const MAX_IN_FLIGHT: usize = 16;
/// On shutdown, deliveries in flight get this long to finish before they are dropped (and sent
/// again at the next start).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Longest error text recorded for an attempt.
const MAX_ERROR_CHARS: usize = 300;
/// What a claim's lease adds to the request timeout: the time between the claim and the request,
/// and the recording of its outcome.
const LEASE_SLACK: Duration = Duration::from_secs(2);

/// Starts the worker on `tracker` (which the server's shutdown waits for) until `stop`.
pub(crate) fn spawn_worker(store: Store, settings: WebhookSettings, stop: CancellationToken, tracker: &TaskTracker) {
    let client = match delivery_client(&settings) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "cannot build the webhook client: webhooks are not delivered");
            return;
        }
    };
    tracker.spawn(run(store, client, settings, stop));
}

/// Never follows redirects (a 3xx is a failure), never uses a proxy (it would resolve names
/// itself), and resolves names only through the SSRF check.
fn delivery_client(settings: &WebhookSettings) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(settings.request_timeout)
        .connect_timeout(settings.request_timeout.min(Duration::from_secs(5)))
        .user_agent(concat!("xkit-dash-webhooks/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(CheckedResolver { allow_private: settings.allow_private }))
        .build()
}

async fn run(store: Store, client: reqwest::Client, settings: WebhookSettings, stop: CancellationToken) {
    let mut newer = store.subscribe_events();
    let mut in_flight = JoinSet::new();
    // Which endpoint each running delivery is for: at most one per endpoint, in queue order.
    let mut busy: HashMap<tokio::task::Id, String> = HashMap::new();
    loop {
        let busy_endpoints: Vec<String> = busy.values().cloned().collect();
        let room = MAX_IN_FLIGHT.saturating_sub(busy.len());
        let claim =
            store.claim_webhook_deliveries(busy_endpoints, room, lease(&settings)).await.unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot claim webhook deliveries");
                OutboxClaim::default()
            });
        for head in claim.deliveries {
            let endpoint = head.endpoint_id.clone();
            let task = in_flight.spawn(deliver(store.clone(), client.clone(), settings, head));
            busy.insert(task.id(), endpoint);
        }
        let pause = claim.next_due_in.map_or(POLL, |due| due.min(POLL));
        tokio::select! {
            () = stop.cancelled() => break,
            Some(done) = in_flight.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(error) => error.id(),
                };
                busy.remove(&id);
            }
            Ok(()) = newer.changed() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    let finish = async { while in_flight.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, finish).await.is_err() {
        tracing::info!("webhook deliveries in flight dropped at shutdown; they are sent again at the next start");
    }
}

/// One attempt at the head of an endpoint's queue, recorded.
async fn deliver(store: Store, client: reqwest::Client, settings: WebhookSettings, head: OutboxHead) {
    let attempted_at = chrono::Utc::now();
    let started = Instant::now();
    let outcome = send(&client, &settings, &head).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let (status_code, error) = match outcome {
        Ok(status) => (Some(status), None),
        Err(error) => (None, Some(error)),
    };
    let delivered = status_code.is_some_and(|status| (200..300).contains(&status));
    let retry_in = backoff(&settings, head.attempts + 1);
    let result =
        AttemptResult { outbox_seq: head.seq, attempted_at, duration_ms, status_code, error, delivered, retry_in };
    if !delivered {
        tracing::info!(
            webhook = %head.endpoint_id,
            event = %head.event_id,
            attempt = head.attempts + 1,
            status = ?result.status_code,
            error = result.error.as_deref().unwrap_or_default(),
            "webhook delivery failed; it will be retried"
        );
    }
    match store.record_webhook_attempt(result, settings.disable_after).await {
        Ok(EndpointAfter::Disabled) => {
            tracing::warn!(webhook = %head.endpoint_id, "webhook disabled: its deliveries failed for too long");
        }
        Ok(EndpointAfter::Delivering | EndpointAfter::Gone) => {}
        Err(error) => tracing::warn!(%error, webhook = %head.endpoint_id, "cannot record a webhook delivery"),
    }
}

/// POSTs the row's body, signed now; the status code, or why no answer came.
async fn send(client: &reqwest::Client, settings: &WebhookSettings, head: &OutboxHead) -> Result<u16, String> {
    let url = parse_url(&head.url)?;
    check_literal_host(&url, settings.allow_private)?;
    let timestamp = chrono::Utc::now().timestamp();
    let response = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::ACCEPT, "application/json")
        .header("Xkit-Signature", signature_header(&head.secret, timestamp, &head.body))
        .header("Xkit-Event-Id", &head.event_id)
        .header("Xkit-Webhook-Id", &head.endpoint_id)
        .header("Xkit-Delivery-Attempt", (head.attempts + 1).to_string())
        .body(head.body.clone())
        .send()
        .await
        .map_err(|error| describe(&error))?;
    Ok(response.status().as_u16())
}

/// An error with its causes ("error sending request: ...: 10.0.0.1 is a private address").
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let part = inner.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = inner.source();
    }
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// The wait after the `failures`-th failure in a row: `first_retry` doubled each time, capped,
/// minus up to a quarter at random so that endpoints failing together do not retry in step
/// (each wait stays longer than the one before).
fn backoff(settings: &WebhookSettings, failures: u32) -> Duration {
    let doubled = settings.first_retry.saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(30)));
    let capped = doubled.min(settings.max_retry);
    capped.mul_f64(rand::rng().random_range(0.75..=1.0))
}

/// How long a claimed delivery is this worker's alone: longer than its request may take.
fn lease(settings: &WebhookSettings) -> Duration {
    settings.request_timeout + LEASE_SLACK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_up_to_the_cap() {
        let settings = WebhookSettings::default();
        let mut previous = Duration::ZERO;
        for failures in 1..=12 {
            let wait = backoff(&settings, failures);
            let nominal = Duration::from_secs(1 << (failures - 1)).min(settings.max_retry);
            assert!(wait <= nominal && wait >= nominal.mul_f64(0.75), "{failures}: {wait:?}");
            assert!(wait >= previous || nominal == settings.max_retry, "{failures}: {wait:?} after {previous:?}");
            previous = wait;
        }
        assert!(backoff(&settings, 1000) <= settings.max_retry);
    }
}
