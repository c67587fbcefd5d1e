//! What the proactive refresh scheduler (`server::scheduler`) should refresh now, found through
//! two partial indexes on `authorizations` (see `schema.rs`), so a tick reads the due rows and
//! not the whole platform; and the refresh claims that keep two processes on one database from
//! refreshing the same connection at once.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{Connection as Db, params};

use super::error::StoreResult;
use super::sql::timestamp_text;

/// The rows a refresh can work on, read through `index` (one of the two partial indexes): active,
/// holding a refresh token, of an enabled connection whose connector has a token endpoint. The
/// first two terms are the partial indexes' own. The index is named because the planner, without
/// statistics, may prefer `authorizations_by_expiry`, which holds every expiring row; CROSS JOIN
/// keeps it on the first table.
fn refreshable(index: &str) -> String {
    format!(
        "FROM authorizations a INDEXED BY {index} CROSS JOIN connections c CROSS JOIN connectors k
         WHERE a.status = 'active' AND a.refresh_token <> '' AND c.seq = a.connection_seq AND c.enabled = 1
           AND k.slug = c.connector_slug AND k.oauth_token_url IS NOT NULL"
    )
}

fn expiring_sql() -> String {
    format!(
        "SELECT c.id {} AND a.expires_at <= ?1
           AND (a.last_refreshed_at IS NULL OR unixepoch(a.expires_at) + unixepoch(a.last_refreshed_at) <= 2 * ?2)
         ORDER BY a.expires_at LIMIT ?3",
        refreshable("authorizations_refresh_by_expiry")
    )
}

fn idle_sql() -> String {
    format!(
        "SELECT c.id {} AND COALESCE(a.last_refreshed_at, a.updated_at) <= ?1
         ORDER BY COALESCE(a.last_refreshed_at, a.updated_at) LIMIT ?2",
        refreshable("authorizations_refresh_by_age")
    )
}

/// Connection ids due for a refresh, most urgent first, at most `limit`:
/// - expiring: `expires_at` within `margin` of `now`, and at least half of the token's
///   lifetime gone (the refresher's rule for lifetimes shorter than twice the margin);
/// - idle: not refreshed (or, never refreshed, not stored) since `idle_before`.
pub(super) fn due(
    db: &Db,
    now: DateTime<Utc>,
    margin: chrono::Duration,
    idle_before: DateTime<Utc>,
    limit: usize,
) -> StoreResult<Vec<String>> {
    let horizon = now.checked_add_signed(margin).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut ids: Vec<String> = db
        .prepare_cached(&expiring_sql())?
        .query_map(params![timestamp_text(horizon), now.timestamp(), limit], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let idle = db
        .prepare_cached(&idle_sql())?
        .query_map(params![timestamp_text(idle_before), limit], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let expiring: HashSet<String> = ids.iter().cloned().collect();
    ids.extend(idle.into_iter().filter(|id| !expiring.contains(id)));
    ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use super::*;

    /// A tick stays cheap on a large platform: both queries walk their partial index (the due
    /// rows only), never the whole authorizations table, and sort nothing.
    #[test]
    fn the_due_queries_read_their_partial_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
        let db = store.writer();
        let queries = [
            (expiring_sql(), "authorizations_refresh_by_expiry", params!["2026-01-01T00:00:00Z", 0, 10].to_vec()),
            (idle_sql(), "authorizations_refresh_by_age", params!["2026-01-01T00:00:00Z", 10].to_vec()),
        ];
        for (sql, index, values) in queries {
            let plan: Vec<String> = db
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(values.as_slice(), |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap();
            let plan = plan.join(" | ");
            assert!(plan.contains(&format!("SEARCH a USING INDEX {index}")), "{plan}");
            assert!(!plan.contains("SCAN") && !plan.contains("TEMP B-TREE"), "{plan}");
        }
    }
}
