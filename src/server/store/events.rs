//! The event history: one event per change, written in the change's own transaction.
//!
//! Like `status_changes`, the writer connection carries TEMP triggers, so every code path that
//! changes a connection (the catalog flow, a refresh, the client API, an import, the CLI's key
//! and origin commands) writes its event without knowing about events: a rolled-back change
//! rolls its event back, and no event exists without its change. [`Store::write`](super::Store)
//! reads the newest event's seq before committing, so long-polling readers wake after commit.

use chrono::{DateTime, Utc};
use rusqlite::{Connection as Db, Transaction, params_from_iter, types::Value};

use super::actor;
use super::cursor::{self, Listing};
use super::error::StoreResult;
use super::records::ImportReport;
use super::sql::timestamp_text;
use crate::model::{Event, EventsPage, RefreshCount};

/// Which events a reader wants; every field narrows the listing.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub event_type: Option<String>,
    pub context: Option<String>,
    pub connector: Option<String>,
    pub connection: Option<String>,
    /// Only events that occurred at or after this time.
    pub since: Option<DateTime<Utc>>,
}

const NOW: &str = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";
const ACTOR: &str = "(SELECT actor FROM event_actor WHERE id = 1)";

/// The payload Xkit documented for its webhooks, for connection `c` of context `x`.
fn connection_payload(extra: &str) -> String {
    format!(
        "json_object('connector', json_object('slug', c.connector_slug), 'context', json_object('external_id', \
         x.external_id), 'connection', json_object('external_id', c.id){extra})"
    )
}

/// An event of connection `c` (joined to its context `x`) selected by `connection_where`.
fn connection_event(event_type: &str, connection_where: &str, extra: &str) -> String {
    format!(
        "INSERT INTO events (id, event_type, occurred_at, actor, context_id, connector, connection_id, payload)
         SELECT lower(hex(randomblob(16))), {event_type}, {NOW}, {ACTOR}, x.external_id, c.connector_slug, c.id, {payload}
         FROM connections c LEFT JOIN contexts x ON x.id = c.context_id WHERE {connection_where};",
        payload = connection_payload(extra)
    )
}

/// An administrative event (no connection) with `payload`.
pub(super) fn admin_event(event_type: &str, context: &str, payload: &str) -> String {
    format!(
        "INSERT INTO events (id, event_type, occurred_at, actor, context_id, payload)
         VALUES (lower(hex(randomblob(16))), '{event_type}', {NOW}, {ACTOR}, {context}, {payload});"
    )
}

/// The flag "a bulk import is being written in this transaction", set by [`quiet_rows`]: the
/// writer's per-row triggers (a `connection.created`, `connection.error` or `context.created`
/// event, a status change to announce) are conditioned on [`ROWS_NOTED`], and the import writes
/// one `platform.imported` event instead ([`imported`]). A million `connection.created` events
/// (and webhooks) on seeding help nobody, and they were most of its time.
pub(super) const FLAG_TABLE: &str =
    "CREATE TEMP TABLE IF NOT EXISTS bulk_import_running (id INTEGER PRIMARY KEY CHECK (id = 1));";

/// True outside a bulk import: a per-row trigger's condition.
pub(super) const ROWS_NOTED: &str = "NOT EXISTS (SELECT 1 FROM temp.bulk_import_running)";

/// Stops the per-row events and notes until [`imported`], in this transaction only (a rollback
/// takes the flag with it).
pub(super) fn quiet_rows(tx: &Transaction<'_>) -> StoreResult<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO temp.bulk_import_running (id) VALUES (1)")?.execute([])?;
    Ok(())
}

/// Ends [`quiet_rows`] and writes the import's one event, `platform.imported`, with what it
/// added (none when it added nothing, as seeding again does).
pub(super) fn imported(tx: &Transaction<'_>, report: &ImportReport) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM temp.bulk_import_running")?.execute([])?;
    if report.contexts_added == 0 && report.connections_added == 0 {
        return Ok(());
    }
    let payload = format!(
        "json_object('connectors', {}, 'contexts_added', {}, 'connections_added', {})",
        report.connectors, report.contexts_added, report.connections_added
    );
    tx.execute_batch(&admin_event("platform.imported", "NULL", &payload))?;
    Ok(())
}

/// The last of a connection's error and recovery events: an `error` one means it is in error.
const IN_ERROR: &str = "(SELECT e.event_type FROM events e WHERE e.connection_id =
        (SELECT id FROM connections WHERE seq = NEW.connection_seq)
        AND e.event_type IN ('connection.error', 'connection.recovered', 'connection.repaired')
        ORDER BY e.seq DESC LIMIT 1) = 'connection.error'";

/// Installs the triggers on the writer connection; they live as long as it.
pub(super) fn watch(writer: &Db) -> rusqlite::Result<()> {
    writer.execute_batch(actor::TABLE)?;
    writer.execute_batch(FLAG_TABLE)?;
    // Not for each row of a bulk import (see `quiet_rows`).
    let connection_inserted = format!("AFTER INSERT ON main.connections WHEN {ROWS_NOTED}");
    let inserted_in_error = format!("AFTER INSERT ON main.authorizations WHEN NEW.status = 'error' AND {ROWS_NOTED}");
    let context_inserted = format!("AFTER INSERT ON main.contexts WHEN {ROWS_NOTED}");
    let by_new_seq = "c.seq = NEW.seq";
    let by_authorization = "c.seq = NEW.connection_seq";
    let deleted = format!(
        "INSERT INTO events (id, event_type, occurred_at, actor, context_id, connector, connection_id, payload)
         SELECT lower(hex(randomblob(16))), 'connection.deleted', {NOW}, {ACTOR}, x.external_id, OLD.connector_slug, OLD.id,
             json_object('connector', json_object('slug', OLD.connector_slug), 'context',
                 json_object('external_id', x.external_id), 'connection', json_object('external_id', OLD.id))
         FROM (SELECT (SELECT external_id FROM contexts WHERE id = OLD.context_id) AS external_id) x;"
    );
    let triggers = [
        ("connection_created", connection_inserted.as_str(), connection_event("'connection.created'", by_new_seq, "")),
        (
            "connection_enabled_changed",
            "AFTER UPDATE OF enabled ON main.connections WHEN OLD.enabled IS NOT NEW.enabled",
            connection_event(
                "CASE WHEN NEW.enabled THEN 'connection.enabled' ELSE 'connection.disabled' END",
                by_new_seq,
                "",
            ),
        ),
        ("connection_deleted", "AFTER DELETE ON main.connections", deleted),
        (
            "connection_failed",
            "AFTER UPDATE OF status ON main.authorizations WHEN NEW.status = 'error' AND OLD.status IS NOT 'error'",
            connection_event(
                "'connection.error'",
                by_authorization,
                ", 'error_code', NEW.error_code, 'error_message', NEW.error_message",
            ),
        ),
        (
            // Imported, or created, in error.
            "connection_failed_on_insert",
            inserted_in_error.as_str(),
            connection_event(
                "'connection.error'",
                by_authorization,
                ", 'error_code', NEW.error_code, 'error_message', NEW.error_message",
            ),
        ),
        (
            "connection_back",
            &format!(
                "AFTER UPDATE OF status ON main.authorizations WHEN NEW.status = 'active' AND OLD.status IS NOT 'active' \
                 AND {IN_ERROR}"
            ),
            connection_event(
                // Straight back from `error` (an import); through an authorization flow: repaired.
                "CASE WHEN OLD.status = 'error' THEN 'connection.recovered' ELSE 'connection.repaired' END",
                by_authorization,
                "",
            ),
        ),
        (
            "connection_refresh_failed",
            "AFTER UPDATE OF refresh_error ON main.authorizations
             WHEN NEW.refresh_error IS NOT NULL AND NEW.status IS OLD.status",
            connection_event("'connection.refresh_failed'", by_authorization, ", 'message', NEW.refresh_error"),
        ),
        (
            "context_created",
            context_inserted.as_str(),
            admin_event(
                "context.created",
                "NEW.external_id",
                "json_object('context', json_object('external_id', NEW.external_id))",
            ),
        ),
        (
            "key_created",
            "AFTER INSERT ON main.api_keys",
            admin_event("key.created", "NULL", "json_object('publishable_key', NEW.publishable_key)"),
        ),
        (
            "key_revoked",
            "AFTER DELETE ON main.api_keys",
            admin_event("key.revoked", "NULL", "json_object('publishable_key', OLD.publishable_key)"),
        ),
        (
            "origin_added",
            "AFTER INSERT ON main.web_origins",
            admin_event("origin.added", "NULL", "json_object('origin', NEW.origin)"),
        ),
        (
            "origin_removed",
            "AFTER DELETE ON main.web_origins",
            admin_event("origin.removed", "NULL", "json_object('origin', OLD.origin)"),
        ),
    ];
    let counted = "INSERT INTO refresh_counts (hour, refreshed) VALUES (strftime('%Y-%m-%dT%H:00:00Z', 'now'), 1)
         ON CONFLICT (hour) DO UPDATE SET refreshed = refreshed + 1;
         INSERT INTO connector_refresh_counts (hour, connector, refreshed)
         SELECT strftime('%Y-%m-%dT%H:00:00Z', 'now'), connector_slug, 1 FROM connections WHERE seq = NEW.connection_seq
         ON CONFLICT (hour, connector) DO UPDATE SET refreshed = refreshed + 1;";
    let triggers = triggers.into_iter().chain([(
        "refresh_counted",
        // Every statement that sets `last_refreshed_at` on an active authorization is a refresh
        // (two in the same second included, so the value need not change).
        "AFTER UPDATE OF last_refreshed_at ON main.authorizations WHEN NEW.status = 'active' AND OLD.status = 'active'",
        counted.to_owned(),
    )]);
    for (name, when, body) in triggers {
        writer.execute_batch(&format!("CREATE TEMP TRIGGER IF NOT EXISTS event_{name} {when} BEGIN {body} END;"))?;
    }
    Ok(())
}

/// Adds `retry_at` to the `connection.refresh_failed` event the transaction just wrote for
/// connection `id` (the trigger cannot know when the refresher will try again).
pub(super) fn add_retry_time(tx: &Transaction<'_>, id: &str, retry_at: DateTime<Utc>) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE events SET payload = json_set(payload, '$.retry_at', ?2)
         WHERE seq = (SELECT MAX(seq) FROM events) AND event_type = 'connection.refresh_failed' AND connection_id = ?1",
    )?
    .execute(rusqlite::params![id, timestamp_text(retry_at)])?;
    Ok(())
}

/// The newest event's seq (0 when there is none): what long-polling readers wait to see grow.
pub(super) fn newest(db: &Db) -> StoreResult<i64> {
    Ok(db.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events")?.query_row([], |row| row.get(0))?)
}

/// Moves the newest seq long-polls wait on forward to `seq`, waking them; a smaller one (a
/// notification of a concurrent commit arriving late) changes nothing. Both backends' writers,
/// readers and PostgreSQL's listener announce through it.
pub(super) fn raise_newest(newest: &tokio::sync::watch::Sender<i64>, seq: i64) {
    newest.send_if_modified(|newest| {
        let raised = seq > *newest;
        if raised {
            *newest = seq;
        }
        raised
    });
}

/// Decodes an `after` cursor: the seq of the last event a reader saw.
pub(super) fn after_seq(after: Option<&str>) -> StoreResult<i64> {
    match after {
        None => Ok(0),
        Some(cursor) => cursor::decode(Listing::Events, cursor)?
            .parse()
            .map_err(|_| super::StoreError::Invalid("invalid cursor".into())),
    }
}

/// Events after `after` matching `filter`, oldest first, at most `limit`.
pub(super) fn list(db: &Db, filter: &EventFilter, after: i64, limit: usize) -> StoreResult<EventsPage> {
    let mut sql = String::from(
        "SELECT seq, id, event_type, occurred_at, context_id, connector, connection_id, payload, actor FROM events WHERE seq > ?",
    );
    let mut values = vec![Value::Integer(after)];
    let mut narrow = |column: &str, value: Option<String>| {
        if let Some(value) = value {
            sql.push_str(&format!(" AND {column} ?"));
            values.push(Value::Text(value));
        }
    };
    narrow("event_type =", filter.event_type.clone());
    narrow("context_id =", filter.context.clone());
    narrow("connector =", filter.connector.clone());
    narrow("connection_id =", filter.connection.clone());
    narrow("occurred_at >=", filter.since.map(timestamp_text));
    sql.push_str(&format!(" ORDER BY seq LIMIT {limit}"));
    let mut last = after;
    let events = db
        .prepare(&sql)?
        .query_map(params_from_iter(values), |row| {
            let payload: String = row.get(7)?;
            Ok((
                row.get::<_, i64>(0)?,
                Event {
                    id: row.get(1)?,
                    event_type: row.get(2)?,
                    occurred_at: row.get(3)?,
                    context: row.get(4)?,
                    connector: row.get(5)?,
                    connection: row.get(6)?,
                    actor: row.get(8)?,
                    payload: serde_json::from_str(&payload).unwrap_or_default(),
                },
            ))
        })?
        .map(|row| {
            row.map(|(seq, event)| {
                last = seq;
                event
            })
        })
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(EventsPage { events, next_cursor: cursor::encode(Listing::Events, &last.to_string()) })
}

/// Deletes the events that occurred before `before`, and the refresh counts of the hours that
/// ended before it; how many events.
pub(super) fn prune(tx: &Transaction<'_>, before: DateTime<Utc>) -> StoreResult<usize> {
    let before = timestamp_text(before);
    tx.prepare_cached("DELETE FROM refresh_counts WHERE datetime(hour, '+1 hour') < datetime(?1)")?
        .execute([&before])?;
    tx.prepare_cached("DELETE FROM connector_refresh_counts WHERE datetime(hour, '+1 hour') < datetime(?1)")?
        .execute([&before])?;
    Ok(tx.prepare_cached("DELETE FROM events WHERE occurred_at < ?1")?.execute([before])?)
}

/// Successful refreshes per hour, oldest first, of the hours that ended at or after `since`.
pub(super) fn refresh_counts(db: &Db, since: Option<DateTime<Utc>>) -> StoreResult<Vec<RefreshCount>> {
    let since = since.map(timestamp_text).unwrap_or_default();
    Ok(db
        .prepare_cached(
            "SELECT hour, refreshed FROM refresh_counts WHERE ?1 = '' OR datetime(hour, '+1 hour') >= datetime(?1)
             ORDER BY hour",
        )?
        .query_map([since], |row| Ok(RefreshCount { hour: row.get(0)?, refreshed: row.get(1)? }))?
        .collect::<rusqlite::Result<Vec<_>>>()?)
}
