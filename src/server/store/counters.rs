//! Counters behind `GET /api/platform/stats` and the contexts' `health` and `connection_count`,
//! kept in the same transaction as every change.
//!
//! Like `events`, the writer connection carries TEMP triggers on `connections` and `contexts`,
//! so every code path (the catalog flow, a refresh, the client API, an import) keeps the
//! counters right without knowing about them, and a rolled-back change rolls its counts back.
//! The triggers read the stored `connections.health` (the model's `Health::of`, computed in
//! Rust when a connection or its authorization is written), so the counters classify exactly
//! as the dashboard does. Large imports pause the triggers and [`recount`] once at the end.

use rusqlite::{Connection as Db, OptionalExtension as _, Transaction};

use super::error::StoreResult;
use crate::model::{ConnectorTotals, Health, HealthTotals, PlatformStats};

/// An import of at least this many connections recounts once instead of counting each row.
pub(super) const BULK_IMPORT: usize = 10_000;

/// `contexts.severity` of a connection whose stored health rank is in `column`: the one
/// mapping from the model's ranks to its severities, written out as SQL.
pub(super) fn severity_sql(column: &str) -> String {
    let arms: String =
        Health::ALL.into_iter().map(|health| format!(" WHEN {} THEN {}", health.rank(), health.severity())).collect();
    format!("(CASE {column}{arms} ELSE 0 END)")
}

/// Sets the count and severity of context `id` (an SQL expression) from its connections; the
/// covering index `connections_by_context_connector` answers it without reading rows.
fn refresh_context(id: &str) -> String {
    format!(
        "UPDATE contexts SET (connection_count, severity) =
             (SELECT count(*), COALESCE(max({severity}), 0) FROM connections c WHERE c.context_id = {id})
         WHERE id = {id};",
        severity = severity_sql("c.health")
    )
}

fn count(slug: &str, health: &str, delta: i64) -> String {
    format!(
        "INSERT INTO health_counts (connector_slug, health, connections) VALUES ({slug}, {health}, {delta})
         ON CONFLICT (connector_slug, health) DO UPDATE SET connections = connections + {delta};"
    )
}

/// True once a [`recount`] has been committed: false for a new database or one older than the
/// counters, which the store recounts once when it opens.
pub(super) fn present(db: &Db) -> rusqlite::Result<bool> {
    db.query_row("SELECT EXISTS (SELECT 1 FROM meta WHERE key = 'counted')", [], |row| row.get(0))
}

/// Installs the triggers on the writer connection; they live as long as it.
pub(super) fn watch(writer: &Db) -> rusqlite::Result<()> {
    writer.execute_batch("CREATE TEMP TABLE IF NOT EXISTS counters_paused (id INTEGER PRIMARY KEY CHECK (id = 1));")?;
    let counting = "NOT EXISTS (SELECT 1 FROM temp.counters_paused)";
    let triggers = [
        (
            "connection_added",
            format!("AFTER INSERT ON main.connections WHEN {counting}"),
            format!("{} {}", count("NEW.connector_slug", "NEW.health", 1), refresh_context("NEW.context_id")),
        ),
        (
            "connection_removed",
            format!("AFTER DELETE ON main.connections WHEN {counting}"),
            format!("{} {}", count("OLD.connector_slug", "OLD.health", -1), refresh_context("OLD.context_id")),
        ),
        (
            "connection_changed",
            format!(
                "AFTER UPDATE OF health, connector_slug, context_id ON main.connections WHEN {counting} AND
                 (OLD.health IS NOT NEW.health OR OLD.connector_slug IS NOT NEW.connector_slug
                  OR OLD.context_id IS NOT NEW.context_id)"
            ),
            format!(
                "{} {} {} {}",
                count("OLD.connector_slug", "OLD.health", -1),
                count("NEW.connector_slug", "NEW.health", 1),
                refresh_context("OLD.context_id"),
                refresh_context("NEW.context_id"),
            ),
        ),
        (
            "context_added",
            format!("AFTER INSERT ON main.contexts WHEN {counting}"),
            "UPDATE platform_counts SET contexts = contexts + 1 WHERE id = 1;".to_owned(),
        ),
        (
            "context_removed",
            format!("AFTER DELETE ON main.contexts WHEN {counting}"),
            "UPDATE platform_counts SET contexts = contexts - 1 WHERE id = 1;".to_owned(),
        ),
    ];
    for (name, when, body) in triggers {
        writer.execute_batch(&format!("CREATE TEMP TRIGGER IF NOT EXISTS counter_{name} {when} BEGIN {body} END;"))?;
    }
    Ok(())
}

/// Stops counting row by row until [`resume_and_recount`], in this transaction only.
pub(super) fn pause(tx: &Transaction<'_>) -> StoreResult<()> {
    tx.prepare_cached("INSERT OR IGNORE INTO temp.counters_paused (id) VALUES (1)")?.execute([])?;
    Ok(())
}

pub(super) fn resume_and_recount(tx: &Transaction<'_>) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM temp.counters_paused")?.execute([])?;
    Ok(recount(tx)?)
}

/// Computes every counter from the tables: after a bulk import, and once for a database that
/// predates the counters.
pub(super) fn recount(db: &Db) -> rusqlite::Result<()> {
    // A savepoint: one transaction on its own, part of the caller's inside one.
    db.execute_batch(&format!(
        "SAVEPOINT recount;
         DELETE FROM health_counts;
         INSERT INTO health_counts (connector_slug, health, connections)
             SELECT connector_slug, health, count(*) FROM connections GROUP BY connector_slug, health;
         INSERT INTO platform_counts (id, contexts) VALUES (1, (SELECT count(*) FROM contexts))
             ON CONFLICT (id) DO UPDATE SET contexts = excluded.contexts;
         UPDATE contexts SET (connection_count, severity) =
             (SELECT count(*), COALESCE(max({severity}), 0) FROM connections c WHERE c.context_id = contexts.id);
         INSERT INTO meta (key, value) VALUES ('counted', '1') ON CONFLICT (key) DO NOTHING;
         RELEASE recount;",
        severity = severity_sql("c.health")
    ))
}

/// The platform's totals, read from the counters (a handful of rows, whatever the platform's size).
pub(super) fn stats(db: &Db) -> StoreResult<PlatformStats> {
    let contexts: Option<i64> = db
        .prepare_cached("SELECT contexts FROM platform_counts WHERE id = 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let mut stats = PlatformStats { contexts: contexts.unwrap_or(0).max(0) as u64, ..Default::default() };
    let mut statement = db.prepare_cached(
        "SELECT k.slug, h.health, h.connections FROM connectors k
         LEFT JOIN health_counts h ON h.connector_slug = k.slug AND h.connections > 0 ORDER BY k.slug",
    )?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        let slug: String = row.get(0)?;
        if stats.connectors.last().is_none_or(|last| last.slug != slug) {
            stats.connectors.push(ConnectorTotals { slug, connections: 0, health: HealthTotals::default() });
        }
        let (Some(rank), Some(count)) = (row.get::<_, Option<i64>>(1)?, row.get::<_, Option<i64>>(2)?) else {
            continue;
        };
        let health = usize::try_from(rank).ok().and_then(|rank| Health::ALL.get(rank).copied());
        let (Some(health), Ok(count)) = (health, u64::try_from(count)) else { continue };
        let connector = stats.connectors.last_mut().expect("pushed above");
        connector.health.add(health, count);
        connector.connections += count;
        stats.health.add(health, count);
        stats.connections += count;
    }
    Ok(stats)
}
