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

/// Computes every counter from the tables: after a bulk import, and once when the counters
/// arrive (schema version 9: `schema.rs`).
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
        tally(&mut stats, row.get(0)?, row.get(1)?, row.get(2)?);
    }
    Ok(stats)
}

/// Adds one row of the health counts (a connector's slug, and the health rank and count of
/// its connections, none when it has none) to `stats`; rows come sorted by slug.
pub(super) fn tally(stats: &mut PlatformStats, slug: String, rank: Option<i64>, count: Option<i64>) {
    if stats.connectors.last().is_none_or(|last| last.slug != slug) {
        stats.connectors.push(ConnectorTotals { slug, connections: 0, health: HealthTotals::default() });
    }
    let (Some(rank), Some(count)) = (rank, count) else { return };
    let health = usize::try_from(rank).ok().and_then(|rank| Health::ALL.get(rank).copied());
    let (Some(health), Ok(count)) = (health, u64::try_from(count)) else { return };
    let connector = stats.connectors.last_mut().expect("pushed above");
    connector.health.add(health, count);
    connector.connections += count;
    stats.health.add(health, count);
    stats.connections += count;
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use secrecy::SecretString;

    use super::super::{
        AuthorizationStore as _, ConnectionStore as _, ContextQuery, IssuedTokens, NewFlow, PageRequest,
        PlatformStore as _, ProviderFailure, SqliteStore,
    };
    use crate::model::{ConnectionFilter, Health, PlatformStats};
    use crate::server::seed;

    const CONNECTORS: [&str; 3] = ["crm", "mail", "files"];
    const STATUSES: [Option<&str>; 6] =
        [None, Some("active"), Some("awaiting_callback"), Some("retrieving_tokens"), Some("error"), Some("suspended")];

    /// A seed document of one context with the given connections `(id, connector, enabled, status)`.
    fn seed_of(context: &str, connections: &[(String, &str, bool, Option<&str>)]) -> String {
        let connections: Vec<_> = connections
            .iter()
            .map(|(id, connector, enabled, status)| {
                let mut connection =
                    serde_json::json!({"id": id, "context": context, "connector": connector, "enabled": enabled});
                if let Some(status) = status {
                    connection["authorization"] = serde_json::json!({"status": status});
                }
                connection
            })
            .collect();
        let connectors: Vec<_> =
            CONNECTORS.iter().map(|slug| serde_json::json!({"slug": slug, "name": slug.to_uppercase()})).collect();
        serde_json::json!({"connectors": connectors, "contexts": [{"external_id": context}], "connections": connections})
            .to_string()
    }

    async fn import(store: &SqliteStore, document: &str) {
        store.import(seed::parse(document, "test seed").unwrap()).await.unwrap();
    }

    /// What the counters must say, recomputed from every listed connection with `Health::of`.
    async fn recount(store: &SqliteStore) -> (PlatformStats, BTreeMap<String, (Option<Health>, u64)>) {
        let page = PageRequest { limit: 100_000, cursor: None };
        let connections = store.list_connections(ConnectionFilter::default(), page.clone()).await.unwrap().items;
        let contexts = store.list_contexts(ContextQuery::default(), page).await.unwrap().items;
        let mut stats = PlatformStats { contexts: contexts.len() as u64, ..Default::default() };
        let mut per_context: BTreeMap<String, (Option<Health>, u64)> =
            contexts.iter().map(|context| (context.external_id.clone(), (None, 0))).collect();
        for slug in store.list_connectors(PageRequest { limit: 100, cursor: None }).await.unwrap().items {
            stats.connectors.push(crate::model::ConnectorTotals {
                slug: slug.slug,
                connections: 0,
                health: Default::default(),
            });
        }
        for connection in &connections {
            let health = Health::of(Some(connection));
            stats.health.add(health, 1);
            stats.connections += 1;
            let connector =
                stats.connectors.iter_mut().find(|totals| totals.slug == connection.connector.slug).unwrap();
            connector.health.add(health, 1);
            connector.connections += 1;
            let (worst, count) = per_context.get_mut(&connection.context.as_ref().unwrap().external_id).unwrap();
            *count += 1;
            *worst = (*worst).max_by_key_severity(health);
        }
        (stats, per_context)
    }

    trait Worst {
        fn max_by_key_severity(self, health: Health) -> Option<Health>;
    }

    impl Worst for Option<Health> {
        fn max_by_key_severity(self, health: Health) -> Option<Health> {
            Some(self.map_or(health, |worst| if health.severity() > worst.severity() { health } else { worst }))
        }
    }

    async fn assert_counters_equal_a_recount(store: &SqliteStore, when: &str) {
        let (expected, per_context) = recount(store).await;
        assert_eq!(store.stats().await.unwrap(), expected, "stats {when}");
        let page = PageRequest { limit: 100_000, cursor: None };
        let listed: BTreeMap<String, (Option<Health>, u64)> = store
            .list_contexts(ContextQuery::default(), page)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|context| (context.external_id, (context.health, context.connection_count.unwrap())))
            .collect();
        assert_eq!(listed, per_context, "contexts' health and connection_count {when}");
    }

    /// Every combination of enabled and authorization status lands in the health bucket
    /// `Health::of` gives it: the counters classify as the model does.
    #[tokio::test]
    async fn every_enabled_and_status_combination_is_counted_as_the_model_classifies_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
        let mut expected = crate::model::HealthTotals::default();
        for (index, status) in STATUSES.into_iter().enumerate() {
            for enabled in [true, false] {
                let context = format!("ctx-{index}-{enabled}");
                import(&store, &seed_of(&context, &[(format!("c-{index}-{enabled}"), "crm", enabled, status)])).await;
                let connection = store.list_connections(Default::default(), PageRequest { limit: 1000, cursor: None });
                let connection = connection.await.unwrap().items.into_iter().last().unwrap();
                let health = Health::of(Some(&connection));
                expected.add(health, 1);
                let listed = store.list_contexts(
                    ContextQuery { search: Some(context.clone()), ..Default::default() },
                    PageRequest { limit: 10, cursor: None },
                );
                assert_eq!(listed.await.unwrap().items[0].health, Some(health), "{status:?} enabled={enabled}");
            }
        }
        assert_eq!(store.stats().await.unwrap().health, expected);
        assert_counters_equal_a_recount(&store, "after every combination").await;
    }

    /// Random creations, imports, disables, enables, failures, repairs, renames and deletions
    /// keep every counter equal to a full recount, and so does reopening the store.
    #[tokio::test]
    async fn counters_equal_a_recount_after_random_changes_and_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.sqlite3");
        let store = SqliteStore::open(&path, 1).unwrap();
        let mut random = StdRng::seed_from_u64(13);
        for step in 0..150 {
            let page = PageRequest { limit: 100_000, cursor: None };
            let connections = store.list_connections(Default::default(), page).await.unwrap().items;
            let picked =
                (!connections.is_empty()).then(|| connections[random.random_range(0..connections.len())].clone());
            let picked = picked.map(|connection| {
                let context = connection.context.clone().unwrap().external_id;
                (connection.id, context, connection.connector.slug)
            });
            match (random.random_range(0..9), picked) {
                (0..=1, _) | (_, None) => {
                    let context = format!("ctx-{}", random.random_range(0..25));
                    let made: Vec<_> = (0..random.random_range(1..4))
                        .map(|_| {
                            let connector = CONNECTORS[random.random_range(0..CONNECTORS.len())];
                            let status = STATUSES[random.random_range(0..STATUSES.len())];
                            (format!("c-{step}-{}", random.random::<u32>()), connector, random.random_bool(0.8), status)
                        })
                        .collect();
                    import(&store, &seed_of(&context, &made)).await;
                }
                (2, Some((_, context, slug))) => {
                    store.disable_connection(context, slug).await.unwrap();
                }
                (3, Some((id, context, slug))) => {
                    store
                        .begin_authorization(context, slug, Some(id), NewFlow::for_test(&format!("s{step}")), None)
                        .await
                        .unwrap();
                }
                (4, Some((id, context, slug))) => {
                    let state = format!("s{step}");
                    store
                        .begin_authorization(context, slug, Some(id.clone()), NewFlow::for_test(&state), None)
                        .await
                        .unwrap();
                    let failure = ProviderFailure { code: "access_denied".into(), message: "no".into() };
                    store.fail_authorization(id, state, failure).await.unwrap();
                }
                (5, Some((id, context, slug))) => {
                    let state = format!("s{step}");
                    store
                        .begin_authorization(context, slug, Some(id.clone()), NewFlow::for_test(&state), None)
                        .await
                        .unwrap();
                    let tokens = IssuedTokens {
                        access_token: SecretString::from("at"),
                        refresh_token: None,
                        expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
                    };
                    store.complete_authorization(id, state, tokens).await.unwrap();
                }
                (6, Some((id, _, _))) => {
                    store
                        .write(move |tx| Ok(tx.execute("DELETE FROM connections WHERE id = ?1", [id])?))
                        .await
                        .unwrap();
                }
                (7, Some((_, context, _))) => {
                    store
                        .write(move |tx| Ok(tx.execute("DELETE FROM contexts WHERE external_id = ?1", [context])?))
                        .await
                        .unwrap();
                }
                (_, Some((_, context, _))) => {
                    let renamed = crate::model::Context::new(format!("{context}-r{step}"));
                    store.update_context(context, renamed).await.unwrap();
                }
            }
            if step % 10 == 9 {
                assert_counters_equal_a_recount(&store, &format!("after step {step}")).await;
            }
        }
        drop(store);
        let store = SqliteStore::open(&path, 1).unwrap();
        assert_counters_equal_a_recount(&store, "after reopening").await;
    }

    /// A bulk import counts once at the end, with the same result as counting row by row.
    #[tokio::test]
    async fn a_bulk_import_recounts_once_with_the_same_result() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
        let batch = crate::server::scale::batch(super::BULK_IMPORT).unwrap();
        store.import(batch).await.unwrap();
        assert_counters_equal_a_recount(&store, "after a bulk import").await;
        assert_eq!(store.stats().await.unwrap().connections, super::BULK_IMPORT as u64);
    }

    /// A database from before the counters is counted once when it opens.
    #[tokio::test]
    async fn a_database_older_than_the_counters_is_counted_when_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("platform.sqlite3");
        let store = SqliteStore::open(&path, 1).unwrap();
        import(
            &store,
            &seed_of("old", &[("c1".into(), "crm", true, Some("error")), ("c2".into(), "mail", true, Some("active"))]),
        )
        .await;
        drop(store);
        // What an older version left: no counter tables, no counter columns, schema 8.
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "DROP TABLE health_counts; DROP TABLE platform_counts; DELETE FROM schema_migrations WHERE version >= 9;
             DROP INDEX contexts_by_severity; DROP INDEX contexts_by_connection_count;
             DROP INDEX contexts_by_severity_connection_count;
             ALTER TABLE contexts DROP COLUMN severity; ALTER TABLE contexts DROP COLUMN connection_count;",
        )
        .unwrap();
        drop(db);
        let store = SqliteStore::open(&path, 1).unwrap();
        assert_counters_equal_a_recount(&store, "after the upgrade").await;
        assert_eq!(store.stats().await.unwrap().health.error, 1);
    }
}
