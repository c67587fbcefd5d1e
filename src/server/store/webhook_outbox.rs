//! Webhook endpoints, their outbox and delivery attempts: the statements, and the writer's
//! triggers that queue a delivery for every matching endpoint in the event's own transaction
//! (an event is never committed without its deliveries, nor a delivery without its event).

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection as Db, OptionalExtension as _, Transaction, params};

use super::error::{StoreError, StoreResult};
use super::events::admin_event;
use super::sql::{now_text, parse_timestamp};
use crate::model::{Webhook, WebhookDelivery};

/// Delivery attempts kept per endpoint; older ones are deleted as new ones are recorded.
pub(super) const KEPT_ATTEMPTS: i64 = 500;

/// The event type `webhooks test` queues, for one endpoint only.
pub(super) const TEST_EVENT: &str = "webhook.test";

/// The webhook's own events (`{"webhook": {"id", "url"}}`, never the secret).
fn webhook_event(event_type: &str, row: &str, extra: &str) -> String {
    admin_event(
        event_type,
        "NULL",
        &format!("json_object('webhook', json_object('id', {row}.id, 'url', {row}.url){extra})"),
    )
}

/// Installs the outbox triggers on the writer connection; they live as long as it.
pub(super) fn watch(writer: &Db) -> rusqlite::Result<()> {
    writer.execute_batch("CREATE TEMP TABLE IF NOT EXISTS webhook_unsettled (seq INTEGER NOT NULL);")?;
    // The body is fixed in the event's transaction, so retries send the same bytes: Xkit's
    // documented fields; the connection's status is added at commit (`settle`).
    let queue = format!(
        "INSERT INTO webhook_outbox (endpoint_id, event_id, event_type, body, next_attempt_ms)
         SELECT w.id, NEW.id, NEW.event_type,
             json_object('id', NEW.id, 'event_type', NEW.event_type, 'occurred_at', NEW.occurred_at,
                 'payload', json(NEW.payload)),
             CAST(unixepoch('subsec') * 1000 AS INTEGER)
         FROM webhook_endpoints w
         WHERE w.enabled AND CASE WHEN NEW.event_type = '{TEST_EVENT}' THEN w.id = json_extract(NEW.payload, '$.webhook.id')
             ELSE w.event_types IS NULL OR EXISTS (SELECT 1 FROM json_each(w.event_types) WHERE value = NEW.event_type) END
         ORDER BY w.id;
         INSERT INTO webhook_unsettled (seq)
         SELECT seq FROM webhook_outbox WHERE event_id = NEW.id AND NEW.connection_id IS NOT NULL;"
    );
    // A payload completed later in the same transaction (`retry_at`) reaches the queued bodies.
    let completed = "UPDATE webhook_outbox SET body = json_set(body, '$.payload',
             json_patch(json_extract(body, '$.payload'), NEW.payload))
         WHERE event_id = NEW.id AND attempts = 0;"
        .to_owned();
    let triggers = [
        ("webhook_queue", "AFTER INSERT ON main.events", queue),
        ("webhook_payload_completed", "AFTER UPDATE OF payload ON main.events", completed),
        ("webhook_created", "AFTER INSERT ON main.webhook_endpoints", webhook_event("webhook.created", "NEW", "")),
        ("webhook_removed", "AFTER DELETE ON main.webhook_endpoints", webhook_event("webhook.removed", "OLD", "")),
        (
            "webhook_disabled",
            "AFTER UPDATE OF enabled ON main.webhook_endpoints WHEN OLD.enabled AND NOT NEW.enabled",
            webhook_event("webhook.disabled", "NEW", ", 'reason', NEW.disabled_reason"),
        ),
        (
            "webhook_enabled",
            "AFTER UPDATE OF enabled ON main.webhook_endpoints WHEN NEW.enabled AND NOT OLD.enabled",
            webhook_event("webhook.enabled", "NEW", ""),
        ),
    ];
    for (name, when, body) in triggers {
        writer.execute_batch(&format!("CREATE TEMP TRIGGER IF NOT EXISTS event_{name} {when} BEGIN {body} END;"))?;
    }
    Ok(())
}

/// Adds to the payload of the connection deliveries the transaction queued the connection's
/// status (and error) as the transaction leaves it: an event written half-way through a change
/// (`connection.enabled` before the new authorization) still tells where the change ended.
pub(super) fn settle(tx: &Transaction<'_>) -> StoreResult<()> {
    let unsettled: bool =
        tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM temp.webhook_unsettled)")?.query_row([], |row| row.get(0))?;
    if unsettled {
        tx.prepare_cached(
            "UPDATE webhook_outbox SET body = json_set(body, '$.payload', json_patch(json_extract(body, '$.payload'),
                 COALESCE((SELECT json_object('status', a.status, 'error_code', a.error_code, 'error_message', a.error_message)
                     FROM connections c JOIN authorizations a ON a.connection_seq = c.seq
                     WHERE c.id = json_extract(webhook_outbox.body, '$.payload.connection.external_id')), '{}')))
             WHERE seq IN (SELECT seq FROM temp.webhook_unsettled)",
        )?
        .execute([])?;
        tx.prepare_cached("DELETE FROM temp.webhook_unsettled")?.execute([])?;
    }
    Ok(())
}

/// An endpoint to add; `id` and `secret` are generated by the caller.
pub struct NewWebhook {
    pub id: String,
    pub url: String,
    pub secret: String,
    pub events: Option<Vec<String>>,
}

impl std::fmt::Debug for NewWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebhook").field("id", &self.id).field("url", &self.url).finish_non_exhaustive()
    }
}

/// The head of one enabled endpoint's queue, claimed for delivery: the next delivery to
/// attempt there.
#[derive(Clone)]
pub struct OutboxHead {
    pub seq: i64,
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub event_type: String,
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
}

impl std::fmt::Debug for OutboxHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxHead")
            .field("seq", &self.seq)
            .field("endpoint_id", &self.endpoint_id)
            .field("event_id", &self.event_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// What a worker claimed: deliveries it alone may attempt until their lease ends, and how long
/// until the next head of another endpoint comes due.
#[derive(Debug, Default)]
pub struct OutboxClaim {
    pub deliveries: Vec<OutboxHead>,
    /// `None`: no other endpoint has anything queued.
    pub next_due_in: Option<std::time::Duration>,
}

/// What one attempt at an outbox row gave.
#[derive(Debug, Clone)]
pub struct AttemptResult {
    pub outbox_seq: i64,
    pub attempted_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    /// A 2xx answer.
    pub delivered: bool,
    /// How long to wait before trying again after a failure (from when it is recorded).
    pub retry_in: std::time::Duration,
}

/// What recording an attempt did to its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointAfter {
    Delivering,
    /// Failing continuously for longer than allowed: disabled, its queue dropped.
    Disabled,
    /// Removed (or its row delivered) while the attempt was in flight: nothing recorded.
    Gone,
}

const SELECT_WEBHOOK: &str = "SELECT w.id, w.url, w.event_types, w.enabled, w.created_at, w.failing_since,
         w.disabled_reason, (SELECT COUNT(*) FROM webhook_outbox o WHERE o.endpoint_id = w.id)
     FROM webhook_endpoints w";

fn webhook_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Webhook> {
    let events: Option<String> = row.get(2)?;
    Ok(Webhook {
        id: row.get(0)?,
        url: row.get(1)?,
        events: events.and_then(|events| serde_json::from_str(&events).ok()),
        enabled: row.get(3)?,
        created_at: row.get(4)?,
        failing_since: row.get(5)?,
        disabled_reason: row.get(6)?,
        pending: row.get(7)?,
    })
}

pub(super) fn add(tx: &Transaction<'_>, webhook: &NewWebhook) -> StoreResult<Webhook> {
    let events = webhook.events.as_ref().map(serde_json::to_string).transpose().map_err(anyhow::Error::from)?;
    tx.prepare_cached(
        "INSERT INTO webhook_endpoints (id, url, secret, event_types, enabled, created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)",
    )?
    .execute(params![webhook.id, webhook.url, webhook.secret, events, now_text()])?;
    get(tx, &webhook.id)
}

pub(super) fn get(db: &Db, id: &str) -> StoreResult<Webhook> {
    db.prepare_cached(&format!("{SELECT_WEBHOOK} WHERE w.id = ?1"))?
        .query_row([id], webhook_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no webhook {id}")))
}

/// Every endpoint, oldest first.
pub(super) fn list(db: &Db) -> StoreResult<Vec<Webhook>> {
    Ok(db
        .prepare_cached(&format!("{SELECT_WEBHOOK} ORDER BY w.created_at, w.id"))?
        .query_map([], webhook_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Deletes an endpoint with its queue and attempts; the endpoint as it was.
pub(super) fn remove(tx: &Transaction<'_>, id: &str) -> StoreResult<Webhook> {
    let webhook = get(tx, id)?;
    tx.prepare_cached("DELETE FROM webhook_endpoints WHERE id = ?1")?.execute([id])?;
    Ok(webhook)
}

/// Enables an endpoint again, as if it had never failed.
pub(super) fn enable(tx: &Transaction<'_>, id: &str) -> StoreResult<Webhook> {
    get(tx, id)?;
    tx.prepare_cached(
        "UPDATE webhook_endpoints SET enabled = 1, failing_since = NULL, disabled_reason = NULL WHERE id = ?1",
    )?
    .execute([id])?;
    get(tx, id)
}

/// Writes a `webhook.test` event, which the trigger queues for endpoint `id` only; its id.
pub(super) fn queue_test(tx: &Transaction<'_>, id: &str) -> StoreResult<String> {
    let webhook = get(tx, id)?;
    if !webhook.enabled {
        return Err(StoreError::Conflict(format!("webhook {id} is disabled; enable it first")));
    }
    Ok(tx
        .prepare_cached(&format!(
            "INSERT INTO events (id, event_type, occurred_at, actor, payload)
             SELECT lower(hex(randomblob(16))), '{TEST_EVENT}', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'),
                 (SELECT actor FROM event_actor WHERE id = 1), json_object('webhook', json_object('id', id, 'url', url))
             FROM webhook_endpoints WHERE id = ?1 RETURNING id"
        ))?
        .query_row([id], |row| row.get(0))?)
}

/// Attempts, newest first, of endpoint `webhook` (every endpoint for `None`), of event
/// `event` (every event for `None`); at most `limit`.
pub(super) fn deliveries(
    db: &Db,
    webhook: Option<&str>,
    event: Option<&str>,
    limit: usize,
) -> StoreResult<Vec<WebhookDelivery>> {
    Ok(db
        .prepare_cached(
            "SELECT endpoint_id, event_id, event_type, attempt, attempted_at, duration_ms, status_code, error, delivered
             FROM webhook_deliveries WHERE (?1 IS NULL OR endpoint_id = ?1) AND (?2 IS NULL OR event_id = ?2)
             ORDER BY seq DESC LIMIT ?3",
        )?
        .query_map(params![webhook, event, limit as i64], |row| {
            Ok(WebhookDelivery {
                webhook_id: row.get(0)?,
                event_id: row.get(1)?,
                event_type: row.get(2)?,
                attempt: row.get(3)?,
                attempted_at: row.get(4)?,
                duration_ms: row.get(5)?,
                status_code: row.get(6)?,
                error: row.get(7)?,
                delivered: row.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// The head of every enabled endpoint's queue, with when it is due (unix milliseconds).
fn heads(db: &Db) -> StoreResult<Vec<(OutboxHead, i64)>> {
    Ok(db
        .prepare_cached(
            "SELECT o.seq, o.endpoint_id, w.url, w.secret, o.event_id, o.event_type, o.body, o.attempts, o.next_attempt_ms
             FROM webhook_endpoints w JOIN webhook_outbox o
                 ON o.seq = (SELECT MIN(seq) FROM webhook_outbox WHERE endpoint_id = w.id)
             WHERE w.enabled",
        )?
        .query_map([], |row| {
            let head = OutboxHead {
                seq: row.get(0)?,
                endpoint_id: row.get(1)?,
                url: row.get(2)?,
                secret: row.get(3)?,
                event_id: row.get(4)?,
                event_type: row.get(5)?,
                body: row.get(6)?,
                attempts: row.get(7)?,
            };
            Ok((head, row.get(8)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}

/// Which heads a claim at `now_ms` takes: the due ones of endpoints not `busy`, longest due
/// first, at most `limit`; and how long until the first head not yet due comes due (due heads
/// beyond the limit wait for room, which a finished delivery makes).
fn plan_claim(
    heads: Vec<(OutboxHead, i64)>,
    busy: &[String],
    limit: usize,
    now_ms: i64,
) -> (Vec<OutboxHead>, Option<std::time::Duration>) {
    let mut heads: Vec<(OutboxHead, i64)> =
        heads.into_iter().filter(|(head, _)| !busy.contains(&head.endpoint_id)).collect();
    heads.sort_by_key(|(head, due)| (*due, head.seq));
    let mut claimed = Vec::new();
    let mut next_due: Option<i64> = None;
    for (head, due) in heads {
        if due > now_ms {
            next_due = Some(next_due.map_or(due, |next| next.min(due)));
        } else if claimed.len() < limit {
            claimed.push(head);
        }
    }
    let next_due_in = next_due.map(|due| std::time::Duration::from_millis((due - now_ms).max(0) as u64));
    (claimed, next_due_in)
}

/// Whether a claim now would take anything: read first, so that an idle worker's polls never
/// take the writer.
pub(super) fn peek_claim(db: &Db, busy: &[String], limit: usize) -> StoreResult<OutboxClaim> {
    let (deliveries, next_due_in) = plan_claim(heads(db)?, busy, limit, Utc::now().timestamp_millis());
    Ok(OutboxClaim { deliveries, next_due_in })
}

/// Claims the due heads of the enabled endpoints not `busy` (at most `limit`) for `lease`: their
/// next attempt moves to the lease's end, so no other worker takes them meanwhile and a worker
/// that dies mid-delivery leaves them due again when it ends (at least once).
pub(super) fn claim(
    tx: &Transaction<'_>,
    busy: &[String],
    limit: usize,
    lease: std::time::Duration,
) -> StoreResult<OutboxClaim> {
    let now_ms = Utc::now().timestamp_millis();
    let (deliveries, next_due_in) = plan_claim(heads(tx)?, busy, limit, now_ms);
    let lease_end = now_ms.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    let mut leased = tx.prepare_cached("UPDATE webhook_outbox SET next_attempt_ms = ?2 WHERE seq = ?1")?;
    for delivery in &deliveries {
        leased.execute(params![delivery.seq, lease_end])?;
    }
    Ok(OutboxClaim { deliveries, next_due_in })
}

/// Records an attempt: a delivered row leaves the queue and clears the endpoint's failure; a
/// failed one waits `retry_in` (ending its claim), and an endpoint failing for `disable_after` or longer
/// is disabled (its queue dropped, a `webhook.disabled` event written).
pub(super) fn record_attempt(
    tx: &Transaction<'_>,
    result: &AttemptResult,
    disable_after: chrono::Duration,
) -> StoreResult<EndpointAfter> {
    let row = tx
        .prepare_cached("SELECT endpoint_id, event_id, event_type, attempts FROM webhook_outbox WHERE seq = ?1")?
        .query_row([result.outbox_seq], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?, row.get::<_, String>(2)?, row.get::<_, u32>(3)?))
        })
        .optional()?;
    let Some((endpoint, event_id, event_type, attempts)) = row else { return Ok(EndpointAfter::Gone) };
    tx.prepare_cached(
        "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, attempt, attempted_at, duration_ms,
             status_code, error, delivered) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        endpoint,
        event_id,
        event_type,
        attempts + 1,
        result.attempted_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        result.duration_ms as i64,
        result.status_code,
        result.error,
        result.delivered,
    ])?;
    tx.prepare_cached(
        "DELETE FROM webhook_deliveries WHERE endpoint_id = ?1 AND seq <=
             (SELECT seq FROM webhook_deliveries WHERE endpoint_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
    )?
    .execute(params![endpoint, KEPT_ATTEMPTS])?;
    if result.delivered {
        tx.prepare_cached("DELETE FROM webhook_outbox WHERE seq = ?1")?.execute([result.outbox_seq])?;
        tx.prepare_cached("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?1")?.execute([&endpoint])?;
        return Ok(EndpointAfter::Delivering);
    }
    let retry_at_ms =
        Utc::now().timestamp_millis().saturating_add(i64::try_from(result.retry_in.as_millis()).unwrap_or(i64::MAX));
    tx.prepare_cached("UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_ms = ?2 WHERE seq = ?1")?
        .execute(params![result.outbox_seq, retry_at_ms])?;
    let failing_since: Option<String> = tx
        .prepare_cached(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?2) WHERE id = ?1 RETURNING failing_since",
        )?
        .query_row(params![endpoint, result.attempted_at.to_rfc3339_opts(SecondsFormat::Millis, true)], |row| row.get(0))?;
    let failing_for =
        parse_timestamp(failing_since).map_or(chrono::Duration::zero(), |since| result.attempted_at - since);
    if failing_for < disable_after {
        return Ok(EndpointAfter::Delivering);
    }
    tx.prepare_cached("UPDATE webhook_endpoints SET enabled = 0, disabled_reason = ?2 WHERE id = ?1")?
        .execute(params![endpoint, disabled_reason(failing_for, result)])?;
    tx.prepare_cached("DELETE FROM webhook_outbox WHERE endpoint_id = ?1")?.execute([&endpoint])?;
    Ok(EndpointAfter::Disabled)
}

/// Why an endpoint failing for `failing_for` is disabled after the attempt `result`.
pub(super) fn disabled_reason(failing_for: chrono::Duration, result: &AttemptResult) -> String {
    format!(
        "every delivery failed for {} (last: {})",
        humantime::format_duration(failing_for.to_std().unwrap_or_default()),
        result.status_code.map_or_else(|| result.error.clone().unwrap_or_default(), |code| format!("HTTP {code}"))
    )
}

/// Whether the server last started on this data directory accepts private webhook targets
/// (`None` before any server started): what `webhooks add` checks a URL against.
pub(super) fn private_targets_allowed(db: &Db) -> StoreResult<Option<bool>> {
    Ok(db
        .prepare_cached("SELECT value FROM meta WHERE key = 'webhook_private_targets'")?
        .query_row([], |row| row.get::<_, String>(0))
        .optional()?
        .map(|value| value == "allowed"))
}

pub(super) fn set_private_targets_allowed(tx: &Transaction<'_>, allowed: bool) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('webhook_private_targets', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([if allowed { "allowed" } else { "refused" }])?;
    Ok(())
}

#[cfg(test)]
mod tests {

    use super::NewWebhook;
    use crate::server::seed;
    use crate::server::store::{NewFlow, Store};

    const SEED: &str = r#"{
        "connectors": [{"slug": "crm", "name": "CRM"}],
        "contexts": [{"external_id": "u1"}],
        "connections": [{"id": "c1", "context": "u1", "connector": "crm", "authorization": {"status": "active"}}]
    }"#;

    fn endpoint(id: &str, events: Option<&[&str]>) -> NewWebhook {
        NewWebhook {
            id: id.into(),
            url: "https://example.com/hook".into(),
            secret: "whsec_x".into(),
            events: events.map(|events| events.iter().map(|event| (*event).to_owned()).collect()),
        }
    }

    fn head(seq: i64, endpoint: &str) -> super::OutboxHead {
        super::OutboxHead {
            seq,
            endpoint_id: endpoint.into(),
            url: String::new(),
            secret: String::new(),
            event_id: String::new(),
            event_type: String::new(),
            body: String::new(),
            attempts: 0,
        }
    }

    /// A claim takes the longest-due heads of endpoints not busy up to its limit; the worker's
    /// next wake-up is the first head not yet due (due heads beyond the limit wait for room,
    /// which a finished delivery makes, so a full worker does not spin).
    #[test]
    fn a_claim_takes_due_heads_of_idle_endpoints_up_to_the_limit() {
        let heads = vec![(head(4, "d"), 1_000), (head(1, "a"), 900), (head(2, "b"), 950), (head(3, "c"), 5_000)];
        let (claimed, next) = super::plan_claim(heads.clone(), &["b".into()], 1, 1_000);
        assert_eq!(claimed.iter().map(|head| head.seq).collect::<Vec<_>>(), [1]);
        assert_eq!(next, Some(std::time::Duration::from_secs(4)), "c's, not d's (due, beyond the limit)");
        let (claimed, next) = super::plan_claim(heads, &[], 10, 1_000);
        assert_eq!(claimed.iter().map(|head| head.seq).collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(next, Some(std::time::Duration::from_secs(4)));
    }

    async fn pending(store: &Store) -> Vec<(String, u64)> {
        store.webhooks().await.unwrap().into_iter().map(|webhook| (webhook.id, webhook.pending)).collect()
    }

    /// A delivery is queued with its event, for each matching endpoint: a rolled-back change
    /// queues nothing, a committed one one row per endpoint that asked for its type, and a test
    /// event reaches only the endpoint tested.
    #[tokio::test]
    async fn deliveries_are_queued_in_the_events_transaction_for_matching_endpoints_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
        store.import(seed::parse(SEED, "test seed").unwrap()).await.unwrap();
        store.disable_connection("u1".into(), "crm".into()).await.unwrap();
        store.add_webhook(endpoint("wh_a", Some(&["connection.enabled"]))).await.unwrap();
        store.add_webhook(endpoint("wh_b", None)).await.unwrap();
        // wh_b's own creation is its first delivery (a ping); wh_a did not ask for it.
        assert_eq!(pending(&store).await, [("wh_a".into(), 0), ("wh_b".into(), 1)]);

        let refused = store.begin_authorization(
            "u1".into(),
            "crm".into(),
            Some("c1".into()),
            NewFlow::for_test("s1"),
            Some([7; 32]),
        );
        assert!(refused.await.is_err(), "an unknown repair link fails the write after it enabled the connection");
        assert_eq!(pending(&store).await, [("wh_a".into(), 0), ("wh_b".into(), 1)], "rolled back with its event");

        store
            .begin_authorization("u1".into(), "crm".into(), Some("c1".into()), NewFlow::for_test("s2"), None)
            .await
            .unwrap();
        assert_eq!(pending(&store).await, [("wh_a".into(), 1), ("wh_b".into(), 2)]);

        store.queue_webhook_test("wh_a".into()).await.unwrap();
        assert_eq!(pending(&store).await, [("wh_a".into(), 2), ("wh_b".into(), 2)]);
        let claim = store.claim_webhook_deliveries(Vec::new(), 16, std::time::Duration::from_secs(30)).await.unwrap();
        let head = claim.deliveries.iter().find(|head| head.endpoint_id == "wh_a").unwrap();
        let body: serde_json::Value = serde_json::from_str(&head.body).unwrap();
        assert_eq!(body["event_type"], "connection.enabled");
        assert_eq!(body["payload"]["connection"]["external_id"], "c1");
        assert_eq!(body["payload"]["status"], "awaiting_callback", "the status the transaction left");
    }
}
