//! The PostgreSQL store's core on a real PostgreSQL (`support::postgres`): migrations (once,
//! also with two nodes starting at once; a newer database refused), the triggers writing the
//! same events and counters as SQLite's, notifications reaching another node, and the
//! database going away and coming back under a running store.

use std::time::{Duration, Instant};

use serde_json::Value;
use xkit_dash::server::seed;
use xkit_dash::server::store::postgres::migrations::LATEST_VERSION;
use xkit_dash::server::store::postgres::{PgStore, schema_status, settings};
use xkit_dash::server::store::{NewerSchema, Store, StoreError, actor};

use crate::support::postgres::{PrivateCluster, fresh_database, fresh_database_on, sql_client};

/// `(version, applied_at)` of every recorded step.
async fn recorded_steps(url: &str) -> Vec<(i64, String)> {
    let client = sql_client(url).await;
    let rows =
        client.query("SELECT version, applied_at::text FROM schema_migrations ORDER BY version", &[]).await.unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

/// Issue 14, item 2: an empty database is brought to the newest version, with the default
/// platform row; connecting again runs no step.
#[tokio::test]
async fn migrations_from_empty_reach_the_newest_version_and_a_second_connect_applies_nothing() {
    let url = fresh_database().await;
    let status = schema_status(&url).await.unwrap();
    assert_eq!((status.version, status.pending.len() as i64), (0, LATEST_VERSION), "an empty database");

    let store = PgStore::connect(&url, 2).await.unwrap();
    let status = schema_status(&url).await.unwrap();
    assert_eq!((status.version, status.latest, status.pending.len()), (LATEST_VERSION, LATEST_VERSION, 0));
    let steps = recorded_steps(&url).await;
    assert_eq!(steps.iter().map(|(version, _)| *version).collect::<Vec<_>>(), (1..=LATEST_VERSION).collect::<Vec<_>>());
    let platform =
        store.client().await.unwrap().query_one("SELECT name, slug FROM platform WHERE id = 1", &[]).await.unwrap();
    assert_eq!((platform.get::<_, String>(0), platform.get::<_, String>(1)), ("Local platform".into(), "local".into()));
    drop(store);

    let _again = PgStore::connect(&url, 2).await.unwrap();
    assert_eq!(recorded_steps(&url).await, steps, "nothing applied the second time");
}

/// Two nodes starting at once on an empty database both start, and each step ran once.
#[tokio::test]
async fn two_connects_at_once_on_an_empty_database_both_succeed_and_migrate_once() {
    let url = fresh_database().await;
    let (first, second) = tokio::join!(PgStore::connect(&url, 2), PgStore::connect(&url, 2));
    first.unwrap();
    second.unwrap();
    let steps = recorded_steps(&url).await;
    assert_eq!(steps.len() as i64, LATEST_VERSION, "{steps:?}");
}

/// A database a newer xkit-dash migrated is refused with SQLite's message, and left alone.
#[tokio::test]
async fn a_database_with_a_newer_schema_version_is_refused() {
    let url = fresh_database().await;
    drop(PgStore::connect(&url, 1).await.unwrap());
    let newer = LATEST_VERSION + 1;
    sql_client(&url)
        .await
        .execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'from the future', now())",
            &[&newer],
        )
        .await
        .unwrap();
    let refused = PgStore::connect(&url, 1).await.err().expect("a newer schema is refused");
    let expected = NewerSchema { found: newer, known: LATEST_VERSION };
    assert_eq!(refused.downcast_ref::<NewerSchema>(), Some(&expected), "{refused:#}");
    assert!(format!("{refused:#}").contains(&expected.to_string()), "{refused:#}");
    assert_eq!(recorded_steps(&url).await.len() as i64, LATEST_VERSION + 1, "nothing written");
}

const SEED: &str = r#"{
    "connectors": [{"slug": "crm", "name": "CRM"}],
    "contexts": [{"external_id": "u1"}],
    "connections": [
        {"id": "c1", "context": "u1", "connector": "crm", "authorization": {"status": "error", "error_code": "denied", "error_message": "no"}},
        {"id": "c2", "context": "u1", "connector": "crm", "enabled": false}
    ]
}"#;

/// What SQLite's triggers wrote for [`SEED`] imported as actor `pk_test`.
struct SqliteReference {
    /// Each event's `[type, actor, context, connector, connection, payload]`, in seq order.
    events: Vec<Value>,
    /// `(connector, health, connections)` of the health counts.
    counts: Vec<(String, i64, i64)>,
    /// The context's severity and connection count, and the platform's contexts.
    context: (i64, i64, i64),
    /// Each connection's stored health rank (Rust computes it), in seq order.
    health: Vec<(String, i64)>,
}

fn sqlite_reference() -> SqliteReference {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("platform.sqlite3");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let store = Store::open(&path, 1).unwrap();
        actor::acting_as("pk_test".into(), store.import(seed::parse(SEED, "test seed").unwrap())).await.unwrap();
    });
    let db = rusqlite::Connection::open(&path).unwrap();
    let events = db
        .prepare("SELECT event_type, actor, context_id, connector, connection_id, payload FROM events ORDER BY seq")
        .unwrap()
        .query_map([], |row| {
            let payload: String = row.get(5)?;
            Ok(serde_json::json!([
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                serde_json::from_str::<Value>(&payload).unwrap()
            ]))
        })
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let counts = db
        .prepare("SELECT connector_slug, health, connections FROM health_counts WHERE connections <> 0 ORDER BY 1, 2")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let context = db
        .query_row(
            "SELECT x.severity, x.connection_count, p.contexts FROM contexts x, platform_counts p WHERE x.external_id = 'u1'",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    let health = db
        .prepare("SELECT id, health FROM connections ORDER BY seq")
        .unwrap()
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    SqliteReference { events, counts, context, health }
}

/// The triggers port SQLite's: the same rows written through SQL with `xkit.actor` set give
/// the same events (type, actor, payload) and the same counters as SQLite's import of them.
#[tokio::test]
async fn rows_written_with_an_actor_give_the_events_and_counters_sqlite_gives() {
    let SqliteReference { events: expected_events, counts: expected_counts, context: expected_context, health } =
        tokio::task::spawn_blocking(sqlite_reference).await.unwrap();
    let url = fresh_database().await;
    let store = PgStore::connect(&url, 2).await.unwrap();
    store
        .write(Some("pk_test"), |tx| {
            Box::pin(async move {
                tx.batch_execute(
                    "INSERT INTO connectors (slug, name) VALUES ('crm', 'CRM');
                     INSERT INTO contexts (external_id, created_at, updated_at) VALUES ('u1', now(), now());",
                )
                .await?;
                let insert = tx
                    .prepare_cached(
                        "INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
                         SELECT $1, id, 'crm', $2, $3, now(), now() FROM contexts WHERE external_id = 'u1' RETURNING seq",
                    )
                    .await?;
                let c1: i64 = tx.query_one(&insert, &[&"c1", &true, &health[0].1]).await?.get(0);
                tx.execute(
                    "INSERT INTO authorizations (connection_seq, status, error_code, error_message, updated_at)
                     VALUES ($1, 'error', 'denied', 'no', now())",
                    &[&c1],
                )
                .await?;
                tx.query_one(&insert, &[&"c2", &false, &health[1].1]).await?;
                Ok(())
            })
        })
        .await
        .unwrap();

    let client = store.client().await.unwrap();
    let events: Vec<Value> = client
        .query("SELECT event_type, actor, context_id, connector, connection_id, payload FROM events ORDER BY seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| {
            serde_json::json!([
                row.get::<_, String>(0),
                row.get::<_, Option<String>>(1),
                row.get::<_, Option<String>>(2),
                row.get::<_, Option<String>>(3),
                row.get::<_, Option<String>>(4),
                row.get::<_, Value>(5)
            ])
        })
        .collect();
    let types: Vec<&str> = expected_events.iter().map(|event| event[0].as_str().unwrap()).collect();
    assert_eq!(types, ["context.created", "connection.created", "connection.error", "connection.created"]);
    assert_eq!(expected_events[2][5]["error_code"], "denied", "{expected_events:?}");
    assert_eq!(events, expected_events);
    let counts: Vec<(String, i64, i64)> = client
        .query(
            "SELECT connector_slug, health, connections FROM health_counts WHERE connections <> 0 ORDER BY 1, 2",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1), row.get(2)))
        .collect();
    assert_eq!(counts, expected_counts);
    let context = client
        .query_one(
            "SELECT x.severity, x.connection_count, p.contexts FROM contexts x, platform_counts p WHERE x.external_id = 'u1'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((context.get(0), context.get(1), context.get(2)), expected_context);
}

/// Waits up to `deadline` for `condition`, checking every 20 ms.
async fn eventually(deadline: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < deadline {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Another node's committed event and status change reach this node's subscribers within 2 s.
#[tokio::test]
async fn a_commit_on_one_node_reaches_the_other_nodes_subscribers_within_two_seconds() {
    let url = fresh_database().await;
    let writer = PgStore::connect(&url, 2).await.unwrap();
    let reader = PgStore::connect(&url, 2).await.unwrap();
    let mut events = reader.subscribe_events();
    let mut status_changes = reader.subscribe_status_changes();
    // The listener is up once it has read the newest seq; give it a moment on a loaded machine.
    assert!(eventually(Duration::from_secs(2), async || reader.client().await.is_ok()).await);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let started = Instant::now();
    let authorization: i64 = writer
        .write(None, |tx| {
            Box::pin(async move {
                tx.batch_execute(
                    "INSERT INTO connectors (slug, name) VALUES ('crm', 'CRM');
                     INSERT INTO contexts (external_id, created_at, updated_at) VALUES ('u1', now(), now());
                     INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
                         SELECT 'c1', id, 'crm', true, 0, now(), now() FROM contexts;",
                )
                .await?;
                let row = tx
                    .query_one(
                        "INSERT INTO authorizations (connection_seq, status, updated_at)
                         SELECT seq, 'awaiting_callback', now() FROM connections RETURNING id",
                        &[],
                    )
                    .await?;
                Ok(row.get(0))
            })
        })
        .await
        .unwrap();
    let newest: i64 =
        writer.client().await.unwrap().query_one("SELECT MAX(seq) FROM events", &[]).await.unwrap().get(0);
    tokio::time::timeout(Duration::from_secs(2), events.wait_for(|seq| *seq >= newest))
        .await
        .expect("the event notification within 2 s")
        .unwrap();
    assert_eq!(reader.newest_event_seq(), newest);
    let change = tokio::time::timeout(Duration::from_secs(2), status_changes.recv())
        .await
        .expect("the status notification within 2 s")
        .unwrap();
    assert_eq!((change.authorization_id, change.external_id.as_str()), (authorization, "u1"));
    assert_eq!(change.status.as_str(), "awaiting_callback");
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Issue 14, item 5: with the database down, a request fails fast (`Unavailable`, within 3 s)
/// instead of hanging; once it is back the same store reads again and its listener follows
/// new events, without a new `PgStore`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_database_stopped_reads_fail_fast_and_recover_after_it_restarts() {
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start).await.unwrap().expect("a private cluster");
    let url = fresh_database_on(&cluster.url()).await;
    let store = PgStore::connect(&url, 2).await.unwrap();
    let read = async || -> Result<i64, StoreError> {
        let client = store.client().await?;
        Ok(client.query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[]).await?.get(0))
    };
    assert_eq!(read().await.unwrap(), 0);

    tokio::task::block_in_place(|| cluster.stop()).unwrap();
    let started = Instant::now();
    let failed = tokio::time::timeout(Duration::from_secs(3), read()).await.expect("fails within 3 s");
    assert!(matches!(failed, Err(StoreError::Unavailable(_))), "{failed:?}");
    let again = tokio::time::timeout(Duration::from_secs(3), store.client()).await.expect("fails within 3 s");
    assert!(matches!(again, Err(StoreError::Unavailable(_))), "{:?}", again.err());
    assert!(started.elapsed() < Duration::from_secs(6));

    tokio::task::block_in_place(|| cluster.start_server()).unwrap();
    assert!(eventually(Duration::from_secs(10), async || read().await.is_ok()).await, "reads work again");
    let mut events = store.subscribe_events();
    store
        .write(Some("cli"), |tx| {
            Box::pin(async move {
                tx.batch_execute("INSERT INTO web_origins (origin, created_at) VALUES ('https://app.example', now())")
                    .await?;
                Ok(())
            })
        })
        .await
        .unwrap();
    let newest = read().await.unwrap();
    assert!(newest > 0);
    // The listener reconnects within its backoff (at most 10 s) and catches up.
    tokio::time::timeout(Duration::from_secs(15), events.wait_for(|seq| *seq >= newest))
        .await
        .expect("the listener follows events again")
        .unwrap();
}

/// Runs `sql` in one `PgStore::write` as `actor`.
async fn exec(store: &PgStore, actor: Option<&str>, sql: &str) {
    let sql = sql.to_owned();
    store
        .write(actor, move |tx| {
            Box::pin(async move {
                tx.batch_execute(&sql).await?;
                Ok(())
            })
        })
        .await
        .unwrap_or_else(|error| panic!("{error:?}"));
}

/// `(type, actor, payload)` of the events after seq `after`, oldest first.
async fn events_after(store: &PgStore, after: i64) -> Vec<(String, Option<String>, Value)> {
    let client = store.client().await.unwrap();
    let rows = client
        .query("SELECT event_type, actor, payload FROM events WHERE seq > $1 ORDER BY seq", &[&after])
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1), row.get(2))).collect()
}

/// The bodies queued for endpoint `endpoint`, oldest first.
async fn outbox(store: &PgStore, endpoint: &str) -> Vec<Value> {
    let client = store.client().await.unwrap();
    let rows = client
        .query("SELECT body FROM webhook_outbox WHERE endpoint_id = $1 ORDER BY seq", &[&endpoint])
        .await
        .unwrap();
    rows.iter().map(|row| row.get(0)).collect()
}

/// Each of SQLite's writer triggers has its PostgreSQL port: the connection's lifecycle events
/// (disabled, enabled, error, repaired, recovered, refresh failed with its retry time, deleted),
/// keys and origins, the webhook outbox (matching endpoints only, the status the transaction
/// leaves, a payload completed later), the refresh counts, the status notes (one per
/// authorization and transaction, at commit), a rolled-back change writing nothing, and a bulk
/// import's quiet rows and paused counters.
#[tokio::test]
async fn the_triggers_write_what_sqlites_triggers_write() {
    let url = fresh_database().await;
    let store = PgStore::connect(&url, 2).await.unwrap();
    exec(
        &store,
        None,
        "INSERT INTO connectors (slug, name) VALUES ('crm', 'CRM');
         INSERT INTO contexts (external_id, created_at, updated_at) VALUES ('u1', now(), now());
         INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
             SELECT 'c1', id, 'crm', true, 0, now(), now() FROM contexts;
         INSERT INTO authorizations (connection_seq, status, refresh_token, updated_at) SELECT seq, 'active', 'rt', now() FROM connections;
         INSERT INTO webhook_endpoints (id, url, secret, created_at) VALUES ('wh_all', 'https://example.com/a', 'whsec', now());
         INSERT INTO webhook_endpoints (id, url, secret, event_types, created_at)
             VALUES ('wh_errors', 'https://example.com/e', 'whsec', '[\"connection.error\"]', now());",
    )
    .await;
    let setup: Vec<String> = events_after(&store, 0).await.into_iter().map(|(event_type, ..)| event_type).collect();
    assert_eq!(setup, ["context.created", "connection.created", "webhook.created", "webhook.created"]);
    let created: Vec<Value> =
        outbox(&store, "wh_all").await.into_iter().map(|body| body["payload"]["webhook"]["id"].clone()).collect();
    assert_eq!(created, ["wh_all", "wh_errors"], "its own creation is its first delivery, then every event");
    assert!(outbox(&store, "wh_errors").await.is_empty());
    let base = store.newest_event_seq().max(4);
    let mut status_changes = store.subscribe_status_changes();

    exec(&store, Some("catalog"), "UPDATE connections SET enabled = false WHERE id = 'c1'").await;
    exec(
        &store,
        Some("catalog"),
        "UPDATE connections SET enabled = true WHERE id = 'c1';
         UPDATE authorizations SET status = 'awaiting_callback', updated_at = now();",
    )
    .await;
    let enabled = outbox(&store, "wh_all").await.pop().unwrap();
    assert_eq!(enabled["event_type"], "connection.enabled");
    assert_eq!(enabled["payload"]["status"], "awaiting_callback", "the status the transaction left: {enabled}");
    exec(&store, None, "UPDATE authorizations SET status = 'error', error_code = 'denied', error_message = 'no'").await;
    exec(
        &store,
        None,
        "UPDATE authorizations SET status = 'awaiting_callback', error_code = NULL, error_message = NULL",
    )
    .await;
    exec(&store, None, "UPDATE authorizations SET status = 'active'").await;
    exec(&store, None, "UPDATE authorizations SET status = 'error'; UPDATE authorizations SET status = 'active';")
        .await;
    exec(&store, Some("scheduler"), "UPDATE authorizations SET last_refreshed_at = now()").await;
    exec(
        &store,
        Some("scheduler"),
        "UPDATE authorizations SET refresh_error = 'boom';
         UPDATE events SET payload = payload || '{\"retry_at\": \"2030-01-01T00:00:00Z\"}'
             WHERE seq = (SELECT MAX(seq) FROM events) AND event_type = 'connection.refresh_failed';",
    )
    .await;
    exec(
        &store,
        Some("cli"),
        "INSERT INTO api_keys (publishable_key, secret_sha256, created_at) VALUES ('pk_1', '\\x00', now());
         DELETE FROM api_keys; INSERT INTO web_origins (origin, created_at) VALUES ('https://a.example', now());
         DELETE FROM web_origins;",
    )
    .await;
    let refused = store
        .write(Some("cli"), |tx| {
            Box::pin(async move {
                tx.batch_execute("INSERT INTO web_origins (origin, created_at) VALUES ('https://b.example', now())")
                    .await?;
                Err::<(), _>(StoreError::Invalid("changed my mind".into()))
            })
        })
        .await;
    assert!(refused.is_err());
    exec(&store, Some("pk_1"), "DELETE FROM connections WHERE id = 'c1'").await;

    let events = events_after(&store, base).await;
    let seen: Vec<(&str, Option<&str>)> =
        events.iter().map(|(event_type, actor, _)| (event_type.as_str(), actor.as_deref())).collect();
    assert_eq!(
        seen,
        [
            ("connection.disabled", Some("catalog")),
            ("connection.enabled", Some("catalog")),
            ("connection.error", None),
            ("connection.repaired", None),
            ("connection.error", None),
            ("connection.recovered", None),
            ("connection.refresh_failed", Some("scheduler")),
            ("key.created", Some("cli")),
            ("key.revoked", Some("cli")),
            ("origin.added", Some("cli")),
            ("origin.removed", Some("cli")),
            ("connection.deleted", Some("pk_1")),
        ]
    );
    let connection = serde_json::json!({
        "connector": {"slug": "crm"}, "context": {"external_id": "u1"}, "connection": {"external_id": "c1"}
    });
    assert_eq!(events[0].2, connection);
    assert_eq!(events[11].2, connection, "the deleted connection's context is named");
    let mut failed = connection.clone();
    failed["error_code"] = "denied".into();
    failed["error_message"] = "no".into();
    assert_eq!(events[2].2, failed);
    assert_eq!(events[6].2["message"], "boom");
    assert_eq!(events[6].2["retry_at"], "2030-01-01T00:00:00Z");
    assert_eq!(events[7].2, serde_json::json!({"publishable_key": "pk_1"}));
    assert_eq!(events[9].2, serde_json::json!({"origin": "https://a.example"}));

    let errors = outbox(&store, "wh_errors").await;
    assert_eq!(errors.len(), 2, "only the error events: {errors:?}");
    assert_eq!(
        (errors[0]["payload"]["status"].clone(), errors[0]["payload"]["error_code"].clone()),
        ("error".into(), "denied".into())
    );
    assert_eq!(errors[1]["payload"]["status"], "active", "the status at commit");
    assert!(
        errors[1]["payload"].get("error_code").is_none(),
        "a null error is removed as json_patch does: {}",
        errors[1]
    );
    assert_eq!(errors[0]["occurred_at"].as_str().unwrap().len(), "2026-01-01T00:00:00Z".len());
    let refresh_failed =
        outbox(&store, "wh_all").await.into_iter().find(|body| body["event_type"] == "connection.refresh_failed");
    assert_eq!(refresh_failed.unwrap()["payload"]["retry_at"], "2030-01-01T00:00:00Z", "a payload completed later");

    let client = store.client().await.unwrap();
    let refreshed: (i64, i64) = {
        let row = client
            .query_one(
                "SELECT (SELECT SUM(refreshed) FROM refresh_counts)::BIGINT,
                     (SELECT SUM(refreshed) FROM connector_refresh_counts WHERE connector = 'crm')::BIGINT",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(refreshed, (1, 1));
    let counters = client
        .query_one(
            "SELECT (SELECT COALESCE(SUM(connections), 0) FROM health_counts)::BIGINT, connection_count, severity FROM contexts",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((counters.get::<_, i64>(0), counters.get::<_, i64>(1), counters.get::<_, i64>(2)), (0, 0, 0));

    let mut statuses = Vec::new();
    while let Ok(Ok(change)) = tokio::time::timeout(Duration::from_secs(2), status_changes.recv()).await {
        statuses.push(change.status.as_str().to_owned());
    }
    // The setup's own change (`active`) reaches the listener whenever it does: before the
    // subscription, after it (first, as notifications keep commit order), or not at all when
    // the listener was not listening yet. What is tested is what follows it.
    if statuses.first().is_some_and(|first| first == "active") {
        statuses.remove(0);
    }
    assert_eq!(statuses, ["awaiting_callback", "error", "awaiting_callback", "active", "active"]);

    // A bulk import: no per-row events, counters paused, then recounted once.
    let before = store.newest_event_seq();
    store
        .write(None, |tx| {
            Box::pin(async move {
                settings::quiet_rows(tx).await?;
                settings::pause_counters(tx).await?;
                tx.batch_execute(
                    "INSERT INTO contexts (external_id, created_at, updated_at) VALUES ('u2', now(), now());
                     INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
                         SELECT 'c' || n, (SELECT id FROM contexts WHERE external_id = 'u2'), 'crm', true, 5, now(), now()
                         FROM generate_series(2, 4) n;
                     INSERT INTO authorizations (connection_seq, status, updated_at) SELECT seq, 'error', now() FROM connections;",
                )
                .await?;
                settings::note_rows(tx).await?;
                settings::resume_and_recount(tx).await
            })
        })
        .await
        .unwrap();
    assert!(events_after(&store, before).await.is_empty());
    let counted = client
        .query_one(
            "SELECT (SELECT SUM(connections) FROM health_counts WHERE health = 5)::BIGINT, (SELECT contexts FROM platform_counts),
                 connection_count FROM contexts WHERE external_id = 'u2'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!((counted.get::<_, i64>(0), counted.get::<_, i64>(1), counted.get::<_, i64>(2)), (3, 2, 3));
    assert!(tokio::time::timeout(Duration::from_millis(500), status_changes.recv()).await.is_err(), "no status notes");
}

/// Events commit in seq order: a second writer of events waits for the first to commit, so a
/// reader that saw seq N never later finds a smaller seq committed.
#[tokio::test]
async fn a_second_writer_of_events_waits_for_the_first_to_commit() {
    let url = fresh_database().await;
    drop(PgStore::connect(&url, 1).await.unwrap());
    let mut first = sql_client(&url).await;
    let tx = first.transaction().await.unwrap();
    tx.batch_execute("INSERT INTO web_origins (origin, created_at) VALUES ('https://first.example', now())")
        .await
        .unwrap();
    let second = tokio::spawn({
        let url = url.clone();
        async move {
            sql_client(&url)
                .await
                .batch_execute("INSERT INTO web_origins (origin, created_at) VALUES ('https://second.example', now())")
                .await
                .unwrap();
        }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!second.is_finished(), "the second writer waits for the first's commit");
    tx.commit().await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), second).await.expect("then it commits").unwrap();
    let rows = sql_client(&url).await.query("SELECT payload ->> 'origin' FROM events ORDER BY seq", &[]).await.unwrap();
    let origins: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    assert_eq!(origins, ["https://first.example", "https://second.example"]);
}

/// The database URL holds a credential: a failed connect names the database without it.
#[tokio::test]
async fn a_failed_connect_names_the_database_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("postgres://app:hunter2secret@127.0.0.1:{port}/xkit");
    let started = Instant::now();
    let error = format!("{:#}", PgStore::connect(&url, 1).await.err().expect("nothing listens there"));
    assert!(started.elapsed() < Duration::from_secs(3), "fails fast");
    assert!(!error.contains("hunter2secret"), "{error}");
    assert!(error.contains(&format!("postgres://app:********@127.0.0.1:{port}/xkit")), "{error}");
}
