//! PostgreSQL's webhook methods: endpoints, the outbox the delivery workers of every node drain,
//! and the attempts they record (SQLite's twins: `store/webhook_outbox.rs`; the triggers that
//! queue deliveries are the schema's, `triggers.rs`).
//!
//! Several nodes claim deliveries at once: a claim locks the due heads it takes with `FOR
//! UPDATE SKIP LOCKED` (another node's claim in flight skips them instead of waiting) and moves
//! their next attempt to the end of a lease, in the database's clock, so no other node takes them
//! until the attempt is recorded or the lease ends; only an endpoint's head is ever claimed, so
//! one delivery per endpoint is in flight across nodes, in queue order.
//!
//! Lock order, so that no two of these transactions wait for each other: the events lock (taken
//! first by whatever may write an endpoint's event), then the endpoint's row, then its outbox
//! rows, as `remove_webhook`'s delete takes them (its cascade reaches the outbox last).

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, SubsecRound as _, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Row;

use super::PgStore;
use super::triggers::EVENTS_LOCK;
use crate::model::{Webhook, WebhookDelivery};
use crate::server::store::actor;
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::interface::WebhookStore;
use crate::server::store::webhook_outbox::{
    AttemptResult, EndpointAfter, KEPT_ATTEMPTS, NewWebhook, OutboxClaim, OutboxHead, TEST_EVENT, disabled_reason,
};

/// The database's clock in unix milliseconds, as the outbox's times are kept.
const NOW_MS: &str = "(extract(epoch FROM statement_timestamp()) * 1000)::BIGINT";

#[async_trait]
impl WebhookStore for PgStore {
    async fn add_webhook(&self, webhook: NewWebhook) -> StoreResult<Webhook> {
        let events = webhook.events.as_ref().map(serde_json::to_value).transpose().map_err(anyhow::Error::from)?;
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move {
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO webhook_endpoints (id, url, secret, event_types, enabled, created_at)
                         VALUES ($1, $2, $3, $4, TRUE, $5)",
                    )
                    .await?;
                let created_at = Utc::now().trunc_subsecs(0);
                tx.execute(&insert, &[&webhook.id, &webhook.url, &webhook.secret, &events, &created_at]).await?;
                get(tx, &webhook.id).await
            })
        })
        .await
    }

    async fn webhooks(&self) -> StoreResult<Vec<Webhook>> {
        let db = self.client().await?;
        let statement = db.prepare_cached(&format!("{SELECT_WEBHOOK} ORDER BY w.created_at, w.id")).await?;
        Ok(db.query(&statement, &[]).await?.iter().map(webhook_from_row).collect())
    }

    async fn remove_webhook(&self, id: String) -> StoreResult<Webhook> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move {
                // Before the endpoint's row: an event writer holding the lock may be queueing a
                // delivery for it (its foreign key check waits for our delete).
                lock_events(tx).await?;
                let webhook = get(tx, &id).await?;
                let delete = tx.prepare_cached("DELETE FROM webhook_endpoints WHERE id = $1").await?;
                tx.execute(&delete, &[&id]).await?;
                Ok(webhook)
            })
        })
        .await
    }

    async fn enable_webhook(&self, id: String) -> StoreResult<Webhook> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move {
                lock_events(tx).await?;
                get(tx, &id).await?;
                let enable = tx
                    .prepare_cached(
                        "UPDATE webhook_endpoints SET enabled = TRUE, failing_since = NULL, disabled_reason = NULL
                         WHERE id = $1",
                    )
                    .await?;
                tx.execute(&enable, &[&id]).await?;
                get(tx, &id).await
            })
        })
        .await
    }

    async fn queue_webhook_test(&self, id: String) -> StoreResult<String> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move {
                let webhook = get(tx, &id).await?;
                if !webhook.enabled {
                    return Err(StoreError::Conflict(format!("webhook {id} is disabled; enable it first")));
                }
                let insert = tx
                    .prepare_cached(&format!(
                        "INSERT INTO events (id, event_type, occurred_at, actor, payload)
                         SELECT xkit_event_id(), '{TEST_EVENT}', xkit_now(), xkit_actor(),
                             jsonb_build_object('webhook', jsonb_build_object('id', id, 'url', url))
                         FROM webhook_endpoints WHERE id = $1 RETURNING id"
                    ))
                    .await?;
                // Removed by another node since `get`: as if it had been gone before.
                let queued = tx.query_opt(&insert, &[&id]).await?;
                queued.map(|row| row.get(0)).ok_or_else(|| StoreError::NotFound(format!("no webhook {id}")))
            })
        })
        .await
    }

    async fn webhook_deliveries(
        &self,
        webhook: Option<String>,
        event: Option<String>,
        limit: usize,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let db = self.client().await?;
        let statement = db
            .prepare_cached(
                "SELECT endpoint_id, event_id, event_type, attempt, attempted_at, duration_ms, status_code, error, delivered
                 FROM webhook_deliveries
                 WHERE ($1::TEXT IS NULL OR endpoint_id = $1) AND ($2::TEXT IS NULL OR event_id = $2)
                 ORDER BY seq DESC LIMIT $3",
            )
            .await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = db.query(&statement, &[&webhook, &event, &limit]).await?;
        Ok(rows
            .iter()
            .map(|row| WebhookDelivery {
                webhook_id: row.get(0),
                event_id: row.get(1),
                event_type: row.get(2),
                attempt: u32::try_from(row.get::<_, i64>(3)).unwrap_or(u32::MAX),
                attempted_at: millis_text(row.get(4)),
                duration_ms: u64::try_from(row.get::<_, i64>(5)).unwrap_or_default(),
                status_code: row.get::<_, Option<i64>>(6).and_then(|code| u16::try_from(code).ok()),
                error: row.get(7),
                delivered: row.get(8),
            })
            .collect())
    }

    async fn claim_webhook_deliveries(
        &self,
        busy: Vec<String>,
        limit: usize,
        lease: std::time::Duration,
    ) -> StoreResult<OutboxClaim> {
        // Every announced event wakes every node's worker, and most queue nothing (no endpoint
        // wants them): one read answers those, without a write transaction.
        let db = self.client().await?;
        let queued = db.prepare_cached("SELECT EXISTS (SELECT 1 FROM webhook_outbox)").await?;
        if !db.query_one(&queued, &[]).await?.get::<_, bool>(0) {
            return Ok(OutboxClaim::default());
        }
        drop(db);
        self.write(actor::current().as_deref(), |tx| Box::pin(async move { claim(tx, busy, limit, lease).await })).await
    }

    async fn record_webhook_attempt(
        &self,
        result: AttemptResult,
        disable_after: std::time::Duration,
    ) -> StoreResult<EndpointAfter> {
        let disable_after = chrono::Duration::from_std(disable_after).unwrap_or(chrono::Duration::MAX);
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move { record_attempt(tx, &result, disable_after).await })
        })
        .await
    }

    async fn webhook_private_targets_allowed(&self) -> StoreResult<Option<bool>> {
        let db = self.client().await?;
        let statement = db.prepare_cached("SELECT value FROM meta WHERE key = 'webhook_private_targets'").await?;
        Ok(db.query_opt(&statement, &[]).await?.map(|row| row.get::<_, String>(0) == "allowed"))
    }

    async fn set_webhook_private_targets_allowed(&self, allowed: bool) -> StoreResult<()> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move {
                let upsert = tx
                    .prepare_cached(
                        "INSERT INTO meta (key, value) VALUES ('webhook_private_targets', $1)
                         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    )
                    .await?;
                tx.execute(&upsert, &[&if allowed { "allowed" } else { "refused" }]).await?;
                Ok(())
            })
        })
        .await
    }
}

const SELECT_WEBHOOK: &str = "SELECT w.id, w.url, w.event_types, w.enabled, w.created_at, w.failing_since,
         w.disabled_reason, (SELECT COUNT(*) FROM webhook_outbox o WHERE o.endpoint_id = w.id)
     FROM webhook_endpoints w";

/// A row of [`SELECT_WEBHOOK`], with SQLite's time formats (created to the second, failing
/// since an attempt's time to the millisecond).
fn webhook_from_row(row: &Row) -> Webhook {
    let events: Option<serde_json::Value> = row.get(2);
    Webhook {
        id: row.get(0),
        url: row.get(1),
        events: events.and_then(|events| serde_json::from_value(events).ok()),
        enabled: row.get(3),
        created_at: row.get::<_, DateTime<Utc>>(4).to_rfc3339_opts(SecondsFormat::Secs, true),
        failing_since: row.get::<_, Option<DateTime<Utc>>>(5).map(millis_text),
        disabled_reason: row.get(6),
        pending: u64::try_from(row.get::<_, i64>(7)).unwrap_or_default(),
    }
}

fn millis_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn get(db: &impl GenericClient, id: &str) -> StoreResult<Webhook> {
    let statement = db.prepare_cached(&format!("{SELECT_WEBHOOK} WHERE w.id = $1")).await?;
    db.query_opt(&statement, &[&id])
        .await?
        .map(|row| webhook_from_row(&row))
        .ok_or_else(|| StoreError::NotFound(format!("no webhook {id}")))
}

/// Takes the lock every transaction writing events holds (see the module's lock order).
async fn lock_events(tx: &Transaction<'_>) -> StoreResult<()> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&EVENTS_LOCK]).await?;
    Ok(())
}

/// The heads of the enabled endpoints not `busy`, due now, at most `limit`, longest due first:
/// locked (skipping those another node's claim holds) and leased, in one statement. A head
/// another node claimed just before is skipped too: once its claim commits, the lock re-reads
/// the row and finds it no longer due.
async fn claim(
    tx: &Transaction<'_>,
    busy: Vec<String>,
    limit: usize,
    lease: std::time::Duration,
) -> StoreResult<OutboxClaim> {
    let claim = tx
        .prepare_cached(&format!(
            "WITH claimable AS (
                 SELECT o.seq FROM webhook_endpoints w
                 JOIN webhook_outbox o
                     ON o.seq = (SELECT h.seq FROM webhook_outbox h WHERE h.endpoint_id = w.id ORDER BY h.seq LIMIT 1)
                 WHERE w.enabled AND NOT (w.id = ANY($1)) AND o.next_attempt_ms <= {NOW_MS}
                 ORDER BY o.next_attempt_ms, o.seq LIMIT $2
                 FOR UPDATE OF o SKIP LOCKED
             )
             UPDATE webhook_outbox o SET next_attempt_ms = {NOW_MS} + $3
             FROM webhook_endpoints w
             WHERE o.seq IN (SELECT seq FROM claimable) AND w.id = o.endpoint_id
             RETURNING o.seq, o.endpoint_id, w.url, w.secret, o.event_id, o.event_type, o.body, o.attempts"
        ))
        .await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    let rows = tx.query(&claim, &[&busy, &limit, &lease_ms]).await?;
    let mut deliveries = rows
        .iter()
        .map(|row| {
            Ok(OutboxHead {
                seq: row.get(0),
                endpoint_id: row.get(1),
                url: row.get(2),
                secret: row.get(3),
                event_id: row.get(4),
                event_type: row.get(5),
                body: serde_json::to_string(&row.get::<_, serde_json::Value>(6)).map_err(anyhow::Error::from)?,
                attempts: u32::try_from(row.get::<_, i64>(7)).unwrap_or(u32::MAX),
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    deliveries.sort_by_key(|delivery| delivery.seq);

    // Due heads beyond `limit` wait for room (a finished delivery wakes the worker), so only the
    // heads not yet due count.
    let mut waiting = busy;
    waiting.extend(deliveries.iter().map(|delivery| delivery.endpoint_id.clone()));
    let next = tx
        .prepare_cached(&format!(
            "SELECT MIN(o.next_attempt_ms - {NOW_MS}) FROM webhook_endpoints w
             JOIN webhook_outbox o
                 ON o.seq = (SELECT h.seq FROM webhook_outbox h WHERE h.endpoint_id = w.id ORDER BY h.seq LIMIT 1)
             WHERE w.enabled AND NOT (w.id = ANY($1)) AND o.next_attempt_ms > {NOW_MS}"
        ))
        .await?;
    let next_due_in: Option<i64> = tx.query_one(&next, &[&waiting]).await?.get(0);
    let next_due_in = next_due_in.map(|millis| std::time::Duration::from_millis(millis.max(0) as u64));
    Ok(OutboxClaim { deliveries, next_due_in })
}

/// SQLite's `webhook_outbox::record_attempt`, under the module's lock order. A failure may
/// disable the endpoint (an event), so it takes the events lock first.
async fn record_attempt(
    tx: &Transaction<'_>,
    result: &AttemptResult,
    disable_after: chrono::Duration,
) -> StoreResult<EndpointAfter> {
    if !result.delivered {
        lock_events(tx).await?;
    }
    let lock_endpoint = tx
        .prepare_cached(
            "SELECT id FROM webhook_endpoints WHERE id = (SELECT endpoint_id FROM webhook_outbox WHERE seq = $1)
             FOR NO KEY UPDATE",
        )
        .await?;
    if tx.query_opt(&lock_endpoint, &[&result.outbox_seq]).await?.is_none() {
        return Ok(EndpointAfter::Gone);
    }
    let select = tx
        .prepare_cached(
            "SELECT endpoint_id, event_id, event_type, attempts FROM webhook_outbox WHERE seq = $1 FOR UPDATE",
        )
        .await?;
    let Some(row) = tx.query_opt(&select, &[&result.outbox_seq]).await? else { return Ok(EndpointAfter::Gone) };
    let (endpoint, event_id, event_type, attempts): (String, String, String, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    // As SQLite keeps it: an attempt's time to the millisecond.
    let attempted_at = result.attempted_at.trunc_subsecs(3);
    let insert = tx
        .prepare_cached(
            "INSERT INTO webhook_deliveries (endpoint_id, event_id, event_type, attempt, attempted_at, duration_ms,
                 status_code, error, delivered) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .await?;
    let duration_ms = i64::try_from(result.duration_ms).unwrap_or(i64::MAX);
    let status_code = result.status_code.map(i64::from);
    tx.execute(
        &insert,
        &[
            &endpoint,
            &event_id,
            &event_type,
            &(attempts + 1),
            &attempted_at,
            &duration_ms,
            &status_code,
            &result.error,
            &result.delivered,
        ],
    )
    .await?;
    let trim = tx
        .prepare_cached(
            "DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND seq <=
                 (SELECT seq FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
        )
        .await?;
    tx.execute(&trim, &[&endpoint, &KEPT_ATTEMPTS]).await?;
    if result.delivered {
        let delivered = tx.prepare_cached("DELETE FROM webhook_outbox WHERE seq = $1").await?;
        tx.execute(&delivered, &[&result.outbox_seq]).await?;
        let recovered = tx.prepare_cached("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1").await?;
        tx.execute(&recovered, &[&endpoint]).await?;
        return Ok(EndpointAfter::Delivering);
    }
    let retry = tx
        .prepare_cached(&format!(
            "UPDATE webhook_outbox SET attempts = attempts + 1, next_attempt_ms = {NOW_MS} + $2 WHERE seq = $1"
        ))
        .await?;
    let retry_in_ms = i64::try_from(result.retry_in.as_millis()).unwrap_or(i64::MAX);
    tx.execute(&retry, &[&result.outbox_seq, &retry_in_ms]).await?;
    let failing = tx
        .prepare_cached(
            "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, $2) WHERE id = $1
             RETURNING failing_since",
        )
        .await?;
    let failing_since: DateTime<Utc> = tx.query_one(&failing, &[&endpoint, &attempted_at]).await?.get(0);
    let failing_for = attempted_at - failing_since;
    if failing_for < disable_after {
        return Ok(EndpointAfter::Delivering);
    }
    let reason = disabled_reason(failing_for, result);
    let disable =
        tx.prepare_cached("UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $2 WHERE id = $1").await?;
    tx.execute(&disable, &[&endpoint, &reason]).await?;
    let dropped = tx.prepare_cached("DELETE FROM webhook_outbox WHERE endpoint_id = $1").await?;
    tx.execute(&dropped, &[&endpoint]).await?;
    Ok(EndpointAfter::Disabled)
}
