//! Issue 14: PostgreSQL's `PlatformStore` and `EventStore` side by side with SQLite's. Both
//! backends get the same seed and the same calls through the store's traits and must give the
//! same answers (ids and times aside); then what only several nodes on one database can do:
//! two nodes upserting, renaming or fetching the signing key at once.

use std::collections::BTreeMap;

use chrono::DurationRound as _;
use secrecy::{ExposeSecret as _, SecretSlice};
use serde_json::{Value, json};
use xkit_dash::model::{AuthorizationStatus, Context, Health};
use xkit_dash::server::store::{
    AuthorizationRecord, ContextQuery, ContextSort, EventFilter, ImportBatch, NewConnection, PageRequest, StatsWindow,
    Store, StoreError, actor,
};
use xkit_dash::server::{scale, seed};

use crate::support::backends::{Backends, error_kind};
use crate::support::postgres::{fresh_database, sql_client};

/// Refresh counters of `hours` (7, 8, 9... refreshes; 3 of them by `slack`) written into both
/// databases directly: the refreshes that count them are another part's.
async fn write_refresh_counts(both: &Backends, hours: &[chrono::DateTime<chrono::Utc>]) {
    let sqlite = rusqlite::Connection::open(both.sqlite_path()).unwrap();
    let postgres = sql_client(&both.url).await;
    for (index, hour) in hours.iter().enumerate() {
        let refreshed = 7 + index as i64;
        let text = hour.format("%Y-%m-%dT%H:00:00Z").to_string();
        sqlite
            .execute("INSERT INTO refresh_counts (hour, refreshed) VALUES (?1, ?2)", rusqlite::params![text, refreshed])
            .unwrap();
        sqlite
            .execute(
                "INSERT INTO connector_refresh_counts (hour, connector, refreshed) VALUES (?1, 'slack', 3)",
                [&text],
            )
            .unwrap();
        postgres
            .execute("INSERT INTO refresh_counts (hour, refreshed) VALUES ($1, $2)", &[hour, &refreshed])
            .await
            .unwrap();
        postgres
            .execute(
                "INSERT INTO connector_refresh_counts (hour, connector, refreshed) VALUES ($1, 'slack', 3)",
                &[hour],
            )
            .await
            .unwrap();
    }
}

/// An error as the routes see it: its variant and its message.
fn error_of(error: StoreError) -> (String, String) {
    (error_kind(&error).to_owned(), error.to_string())
}

/// Every page of the contexts listing for `query`, `limit` at a time: each page's contexts
/// and its cursor.
async fn all_context_pages(store: &Store, query: &ContextQuery, limit: usize) -> Vec<(Vec<Context>, Option<String>)> {
    let mut pages = Vec::new();
    let mut cursor = None;
    for _ in 0..200 {
        let page = store.list_contexts(query.clone(), PageRequest { limit, cursor: cursor.clone() }).await.unwrap();
        cursor = page.next_cursor.clone();
        pages.push((page.items, page.next_cursor));
        if cursor.is_none() {
            return pages;
        }
    }
    panic!("more than 200 pages for {query:?}");
}

/// Every event matching `filter`, `limit` at a time, as `[type, actor, context, connector,
/// connection, payload]` (ids and times differ between backends).
async fn all_events(store: &Store, filter: &EventFilter, limit: usize) -> Vec<Value> {
    let mut events = Vec::new();
    let mut after = None;
    for _ in 0..500 {
        let page = store.events(filter.clone(), after.clone(), limit).await.unwrap();
        if page.events.is_empty() {
            return events;
        }
        events.extend(page.events.into_iter().map(|event| {
            json!([event.event_type, event.actor, event.context, event.connector, event.connection, event.payload])
        }));
        after = Some(page.next_cursor);
    }
    panic!("more than 500 pages of events for {filter:?}");
}

/// The demo on both: the same platform, report, stats, and the same contexts listing, page by
/// page and cursor by cursor, for every sort, direction and filter.
#[tokio::test]
async fn the_demo_on_both_backends_gives_the_same_platform_stats_and_context_pages() {
    let both = Backends::with_demo().await;
    assert_eq!(both.sqlite.platform().await.unwrap(), both.postgres.platform().await.unwrap());
    assert!(!both.postgres.is_empty().await.unwrap());
    let stats = both.sqlite.stats().await.unwrap();
    assert_eq!(stats.connections, 356);
    assert_eq!(both.postgres.stats().await.unwrap(), stats);

    let mut filters = vec![ContextQuery::default()];
    filters.extend(Health::ALL.into_iter().map(|health| ContextQuery { health: Some(health), ..Default::default() }));
    filters.extend(
        ["slack", "github", "stripe", "nobody"]
            .map(|slug| ContextQuery { connector: Some(slug.to_owned()), ..Default::default() }),
    );
    filters.extend(
        ["a", "ACME", "corp", "pied-p", "%", "_", "org\\"]
            .map(|search| ContextQuery { search: Some(search.to_owned()), ..Default::default() }),
    );
    filters.push(ContextQuery {
        health: Some(Health::Error),
        connector: Some("slack".into()),
        search: Some("o".into()),
        ..Default::default()
    });
    let mut compared = 0;
    for filter in filters {
        for sort in [ContextSort::ExternalId, ContextSort::Health, ContextSort::Connections] {
            for descending in [false, true] {
                let query = ContextQuery { sort, descending, ..filter.clone() };
                let expected = all_context_pages(&both.sqlite, &query, 7).await;
                let pages = all_context_pages(&both.postgres, &query, 7).await;
                assert_eq!(pages, expected, "{query:?}");
                compared += expected.iter().map(|(items, _)| items.len()).sum::<usize>();
            }
        }
    }
    assert!(compared > 68 * 6, "the filters select something: {compared}");

    // A cursor of another order is refused alike.
    let by_health = ContextQuery { sort: ContextSort::Health, ..Default::default() };
    let cursor = all_context_pages(&both.postgres, &by_health, 7).await[0].1.clone();
    for (_, store) in both.both() {
        let refused = store
            .list_contexts(ContextQuery::default(), PageRequest { limit: 7, cursor: cursor.clone() })
            .await
            .unwrap_err();
        assert_eq!(error_of(refused).0, "Invalid");
    }
}

/// The same upserts, merges, renames and refusals on both give the same contexts and errors.
#[tokio::test]
async fn contexts_after_upserts_renames_and_a_conflicting_rename_are_the_same_on_both() {
    let both = Backends::with_demo().await;
    let mut answers: Vec<Vec<Result<Value, (String, String)>>> = Vec::new();
    for (_, store) in both.both() {
        let context = |id: &str, name: Option<&str>, attributes: Value| {
            let mut context = Context::new(id);
            context.external_name = name.map(str::to_owned);
            context.attributes = attributes.as_object().unwrap().clone();
            context
        };
        let as_value = |result: Result<Context, StoreError>| {
            result.map(|context| serde_json::to_value(context).unwrap()).map_err(error_of)
        };
        let mut results = vec![
            as_value(store.upsert_context(context("new_one", Some("New"), json!({"plan": "free", "n": 1}))).await),
            as_value(store.upsert_context(context("new_one", None, json!({"plan": "pro", "seats": null}))).await),
            as_value(store.upsert_context(context("org_acme", Some("Acme II"), json!({"region": "eu"}))).await),
            as_value(
                store
                    .upsert_contexts(vec![
                        context("batch_a", None, json!({})),
                        context("batch_b", Some("B"), json!({"x": [1, 2]})),
                    ])
                    .await,
            ),
            as_value(store.upsert_contexts(Vec::new()).await),
            as_value(store.update_context("new_one".into(), context("renamed", Some("Renamed"), json!({}))).await),
            as_value(store.update_context("renamed".into(), context("org_acme", None, json!({}))).await),
            as_value(store.update_context("missing".into(), context("missing", None, json!({}))).await),
            as_value(store.update_context("batch_a".into(), context("batch_a", None, json!({"k": "v"}))).await),
            as_value(store.context("renamed".into()).await),
            as_value(store.context("new_one".into()).await),
            as_value(store.context("org_acme".into()).await),
        ];
        let listed = store.list_contexts(ContextQuery::default(), PageRequest { limit: 1000, cursor: None }).await;
        results.push(Ok(serde_json::to_value(listed.unwrap().items).unwrap()));
        answers.push(results);
    }
    assert_eq!(answers[1], answers[0]);
    let sqlite = &answers[0];
    assert_eq!(sqlite[1].as_ref().unwrap()["plan"], "pro", "{sqlite:?}");
    assert_eq!(sqlite[4].as_ref().unwrap_err().0, "Invalid");
    assert_eq!(sqlite[6].as_ref().unwrap_err().0, "Conflict");
    assert_eq!(sqlite[7].as_ref().unwrap_err().0, "NotFound");
    assert_eq!(sqlite[10].as_ref().unwrap_err().0, "NotFound");
}

/// Keys and origins: the same answers and errors, and the same events, on both.
#[tokio::test]
async fn keys_and_origins_round_trip_alike_and_write_the_same_events() {
    let both = Backends::new().await;
    let mut answers = Vec::new();
    for (_, store) in both.both() {
        let mut results: Vec<Value> = Vec::new();
        let mut note = |value: Value| results.push(value);
        note(json!(format!("{:?}", actor::acting_as("cli".into(), store.add_api_key("pk_one".into(), [1; 32])).await)));
        note(json!(format!("{:?}", actor::acting_as("cli".into(), store.add_api_key("pk_two".into(), [2; 32])).await)));
        let duplicate = actor::acting_as("cli".into(), store.add_api_key("pk_one".into(), [3; 32])).await.unwrap_err();
        note(json!(error_of(duplicate)));
        let stored = store.api_key("pk_one".into()).await.unwrap().unwrap();
        note(json!([stored.secret_sha256, stored.last_used_at.is_some()]));
        store.touch_api_key("pk_one".into()).await.unwrap();
        let touched = store.api_key("pk_one".into()).await.unwrap().unwrap();
        note(json!([touched.secret_sha256, touched.last_used_at.is_some()]));
        note(json!(store.api_key("pk_none".into()).await.unwrap().is_none()));
        let keys = store.api_keys().await.unwrap();
        note(json!(keys.iter().map(|key| (&key.publishable_key, key.last_used_at.is_some())).collect::<Vec<_>>()));
        note(json!(format!("{:?}", actor::acting_as("cli".into(), store.revoke_api_key("pk_two".into())).await)));
        note(json!(error_of(actor::acting_as("cli".into(), store.revoke_api_key("pk_two".into())).await.unwrap_err())));
        for origin in ["https://b.example", "https://a.example", "https://b.example"] {
            note(json!(actor::acting_as("cli".into(), store.add_web_origin(origin.into())).await.unwrap()));
        }
        note(json!(store.web_origins().await.unwrap()));
        note(json!(store.is_web_origin("https://a.example".into()).await.unwrap()));
        note(json!(format!(
            "{:?}",
            actor::acting_as("cli".into(), store.remove_web_origin("https://a.example".into())).await
        )));
        note(json!(error_of(
            actor::acting_as("cli".into(), store.remove_web_origin("https://a.example".into())).await.unwrap_err()
        )));
        note(json!(store.is_web_origin("https://a.example".into()).await.unwrap()));
        note(json!(all_events(store, &EventFilter::default(), 100).await));
        answers.push(results);
    }
    assert_eq!(answers[1], answers[0]);
    let events = answers[0].last().unwrap().as_array().unwrap();
    let types: Vec<&str> = events.iter().map(|event| event[0].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["key.created", "key.created", "key.revoked", "origin.added", "origin.added", "origin.removed"],
        "{events:?}"
    );
    assert!(events.iter().all(|event| event[1] == "cli"), "{events:?}");
}

/// Every filter of the events listing, paged 5 at a time, gives the same events on both;
/// pruning and the charts' history agree too.
#[tokio::test]
async fn events_with_each_filter_history_and_pruning_are_the_same_on_both() {
    let both = Backends::with_demo().await;
    // The events of both imports fall well inside one bucket of the history (5 minutes from its ends).
    let start = chrono::Utc::now() - chrono::Duration::seconds(3900);
    for (_, store) in both.both() {
        actor::acting_as("cli".into(), store.add_web_origin("https://app.example".into())).await.unwrap();
        actor::acting_as("pk_other".into(), store.upsert_context(Context::new("late"))).await.unwrap();
    }
    let sqlite_all = all_events(&both.sqlite, &EventFilter::default(), 1000).await;
    let errors = sqlite_all.iter().filter(|event| event[0] == "connection.error").count();
    assert!(errors > 0 && sqlite_all.len() > 356, "{}", sqlite_all.len());
    let some = |text: &str| Some(text.to_owned());
    let filters = [
        EventFilter::default(),
        EventFilter { event_type: some("connection.error"), ..Default::default() },
        EventFilter { event_type: some("context.created"), ..Default::default() },
        EventFilter { context: some("org_acme"), ..Default::default() },
        EventFilter { connector: some("slack"), ..Default::default() },
        EventFilter { connection: sqlite_all[5][4].as_str().map(str::to_owned), ..Default::default() },
        EventFilter { since: Some(start), ..Default::default() },
        EventFilter { since: Some(chrono::Utc::now() + chrono::Duration::hours(1)), ..Default::default() },
        EventFilter { event_type: some("connection.created"), connector: some("github"), ..Default::default() },
    ];
    for filter in &filters {
        let expected = all_events(&both.sqlite, filter, 5).await;
        assert_eq!(all_events(&both.postgres, filter, 5).await, expected, "{filter:?}");
    }
    assert_eq!(all_events(&both.postgres, &EventFilter::default(), 1000).await, sqlite_all);
    for (_, store) in both.both() {
        let invalid = store.events(EventFilter::default(), Some("bm90IGEgY3Vyc29y".into()), 5).await.unwrap_err();
        assert_eq!(error_of(invalid).0, "Invalid");
    }

    // Refreshes counted in three hours: one before the window, one that ends in it, one in it.
    let in_window = start.duration_trunc(chrono::Duration::hours(1)).unwrap() + chrono::Duration::hours(1);
    let hours: Vec<_> = (0..3).map(|back| in_window - chrono::Duration::hours(back)).collect();
    write_refresh_counts(&both, &hours).await;

    let window = StatsWindow { since: start, until: start + chrono::Duration::hours(2), bucket_seconds: 600 };
    let history = both.sqlite.stats_history(window).await.unwrap();
    assert_eq!(history.buckets.iter().map(|bucket| bucket.totals.errors).sum::<u64>(), errors as u64);
    assert_eq!(history.buckets.iter().map(|bucket| bucket.totals.refreshes).sum::<u64>(), 7);
    assert_eq!(both.postgres.stats_history(window).await.unwrap(), history);
    let counts = both.sqlite.refresh_counts(Some(start)).await.unwrap();
    assert_eq!(counts.iter().map(|count| count.refreshed).collect::<Vec<_>>(), [8, 7]);
    assert_eq!(both.postgres.refresh_counts(Some(start)).await.unwrap(), counts);
    assert_eq!(both.postgres.refresh_counts(None).await.unwrap(), both.sqlite.refresh_counts(None).await.unwrap());

    let kept = both.sqlite.prune_events(start).await.unwrap();
    assert_eq!(both.postgres.prune_events(start).await.unwrap(), kept);
    let pruned = both.sqlite.prune_events(chrono::Utc::now() + chrono::Duration::hours(1)).await.unwrap();
    assert_eq!(pruned, sqlite_all.len());
    assert_eq!(both.postgres.prune_events(chrono::Utc::now() + chrono::Duration::hours(1)).await.unwrap(), pruned);
    assert!(all_events(&both.postgres, &EventFilter::default(), 10).await.is_empty());
}

/// A bulk import (10,000 connections or more) is one change: one `platform.imported` event,
/// and counters equal to SQLite's and to a recount of the rows.
#[tokio::test]
async fn a_bulk_import_writes_one_event_and_counters_equal_to_a_recount() {
    let both = Backends::new().await;
    let connections = 10_000;
    for (_, store) in both.both() {
        let batch = scale::batch(connections).unwrap();
        let report = actor::acting_as("cli".into(), store.import(batch)).await.unwrap();
        assert_eq!(report.connections_added, connections);
    }
    let events = all_events(&both.postgres, &EventFilter::default(), 100).await;
    assert_eq!(events, all_events(&both.sqlite, &EventFilter::default(), 100).await);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0][0], "platform.imported");
    assert_eq!(events[0][5]["connections_added"], connections);
    let stats = both.postgres.stats().await.unwrap();
    assert_eq!(stats, both.sqlite.stats().await.unwrap());
    assert_eq!(stats.connections, connections as u64);

    assert_counters_equal_a_recount(&both.url).await;
    let page = PageRequest { limit: 50, cursor: None };
    let query = ContextQuery { sort: ContextSort::Health, descending: true, ..Default::default() };
    assert_eq!(
        both.postgres.list_contexts(query.clone(), page.clone()).await.unwrap().items,
        both.sqlite.list_contexts(query, page).await.unwrap().items
    );

    // Importing it again adds nothing and writes no event.
    let again = both.postgres.import(scale::batch(connections).unwrap()).await.unwrap();
    assert_eq!((again.contexts_added, again.connections_added), (0, 0));
    assert_eq!(all_events(&both.postgres, &EventFilter::default(), 100).await.len(), 1);
}

/// The counters of the PostgreSQL database at `url` (per connector and health, per context,
/// the platform's contexts) equal a count of its rows.
async fn assert_counters_equal_a_recount(url: &str) {
    let client = sql_client(url).await;
    let counted: BTreeMap<(String, i64), i64> = client
        .query("SELECT connector_slug, health, count(*) FROM connections GROUP BY 1, 2", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect();
    let kept: BTreeMap<(String, i64), i64> = client
        .query("SELECT connector_slug, health, connections FROM health_counts WHERE connections <> 0", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect();
    assert_eq!(kept, counted);
    let severity: String =
        Health::ALL.into_iter().map(|health| format!(" WHEN {} THEN {}", health.rank(), health.severity())).collect();
    let wrong: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM contexts x WHERE (x.connection_count, x.severity) <>
                     (SELECT count(*), COALESCE(max(CASE c.health{severity} END), 0)
                      FROM connections c WHERE c.context_id = x.id)"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(wrong, 0, "contexts whose connection_count or severity is not their connections'");
    let contexts: bool = client
        .query_one("SELECT contexts = (SELECT count(*) FROM contexts) FROM platform_counts", &[])
        .await
        .unwrap()
        .get(0);
    assert!(contexts, "the platform's contexts");
}

/// Another node importing small batches (counted row by row) while a bulk import pauses its
/// counters and recounts: every import succeeds and the counters equal a recount.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_imports_on_another_node_during_a_bulk_import_are_counted_once() {
    let url = fresh_database().await;
    let bulk_node = Store::connect_postgres(&url, 2).await.unwrap();
    let other_node = Store::connect_postgres(&url, 2).await.unwrap();
    bulk_node.import(seed::parse(seed::DEMO, "the demo").unwrap()).await.unwrap();
    let statuses = ["active", "error", "suspended", "awaiting_callback"];
    let small = |round: usize| ImportBatch {
        contexts: vec![Context::new(format!("side_{round}"))],
        connections: (0..4)
            .map(|index| NewConnection {
                id: format!("side_{round}_{index}"),
                // Some into a context of the bulk import's (when it is there), some into a new one.
                context_external_id: if index == 0 { "org_acme".into() } else { format!("side_{round}") },
                connector_slug: ["slack", "github"][index % 2].into(),
                enabled: index != 3,
                authorization: Some(AuthorizationRecord {
                    status: AuthorizationStatus::parse(statuses[(round + index) % statuses.len()]),
                    ..Default::default()
                }),
            })
            .collect(),
        ..Default::default()
    };
    let bulk = tokio::spawn(async move { bulk_node.import(scale::batch(20_000).unwrap()).await });
    let mut rounds = 0;
    while !bulk.is_finished() && rounds < 300 {
        other_node.import(small(rounds)).await.unwrap();
        rounds += 1;
    }
    bulk.await.unwrap().unwrap();
    for round in rounds..rounds + 5 {
        other_node.import(small(round)).await.unwrap();
    }
    assert!(rounds > 0);
    assert_counters_equal_a_recount(&url).await;
    assert_eq!(other_node.stats().await.unwrap().connections, 356 + 20_000 + 4 * (rounds as u64 + 5));
}

/// An import that fails half-way (a connection to an unknown connector) leaves nothing, no
/// event either, on both; so does a rename to a taken id.
#[tokio::test]
async fn a_rolled_back_write_leaves_no_event() {
    let both = Backends::with_demo().await;
    let failing = ImportBatch {
        contexts: vec![Context::new("half_way")],
        connections: vec![NewConnection {
            id: "hw1".into(),
            context_external_id: "half_way".into(),
            connector_slug: "no-such-connector".into(),
            enabled: true,
            authorization: None,
        }],
        ..Default::default()
    };
    for (_, store) in both.both() {
        let before = all_events(store, &EventFilter::default(), 1000).await;
        assert!(store.import(failing.clone()).await.is_err());
        let renamed = store.update_context("org_acme".into(), Context::new("org_globex")).await;
        assert_eq!(error_of(renamed.unwrap_err()).0, "Conflict");
        assert_eq!(all_events(store, &EventFilter::default(), 1000).await, before);
        assert_eq!(error_of(store.context("half_way".into()).await.unwrap_err()).0, "NotFound");
    }
}

/// Two nodes starting at once on a fresh database get the same signing key; a later node with
/// another candidate gets it too.
#[tokio::test]
async fn shared_signing_key_is_the_same_for_two_nodes_connecting_at_once() {
    let url = fresh_database().await;
    let (first, second) = tokio::join!(Store::connect_postgres(&url, 2), Store::connect_postgres(&url, 2));
    let (first, second) = (first.unwrap(), second.unwrap());
    let (a, b) = tokio::join!(
        first.shared_signing_key(SecretSlice::from(vec![1u8; 64])),
        second.shared_signing_key(SecretSlice::from(vec![2u8; 64]))
    );
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert_eq!(a.expose_secret(), b.expose_secret());
    assert!(a.expose_secret() == [1u8; 64].as_slice() || a.expose_secret() == [2u8; 64].as_slice());
    let later = first.shared_signing_key(SecretSlice::from(vec![3u8; 64])).await.unwrap().unwrap();
    assert_eq!(later.expose_secret(), a.expose_secret());
    let rows: i64 = sql_client(&url).await.query_one("SELECT count(*) FROM signing_keys", &[]).await.unwrap().get(0);
    assert_eq!(rows, 1);
    // SQLite leaves the key to the data directory.
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
    assert!(sqlite.shared_signing_key(SecretSlice::from(vec![1u8; 64])).await.unwrap().is_none());
}

/// Two nodes upserting the same new context at once: both succeed, one context, one
/// `context.created`, both attributes merged. Two nodes renaming two contexts to the same new
/// id at once: exactly one wins, the other gets SQLite's `Conflict`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_upserting_or_renaming_at_once_stay_consistent() {
    let url = fresh_database().await;
    let first = Store::connect_postgres(&url, 4).await.unwrap();
    let second = Store::connect_postgres(&url, 4).await.unwrap();
    for round in 0..10 {
        let id = format!("shared_{round}");
        let mut a = Context::new(id.clone());
        a.attributes.insert("a".into(), json!(1));
        let mut b = Context::new(id.clone());
        b.attributes.insert("b".into(), json!(2));
        let (left, right) = tokio::join!(first.upsert_context(a), second.upsert_context(b));
        left.unwrap();
        right.unwrap();
        let stored = first.context(id.clone()).await.unwrap();
        assert_eq!(stored.attributes.len(), 2, "both merged: {stored:?}");
        let created =
            EventFilter { event_type: Some("context.created".into()), context: Some(id.clone()), ..Default::default() };
        assert_eq!(all_events(&first, &created, 10).await.len(), 1, "round {round}");
    }
    // Renames of two existing contexts to one new id, at once.
    for round in 0..10 {
        let (from_a, from_b, target) = (format!("ra_{round}"), format!("rb_{round}"), format!("rt_{round}"));
        first.upsert_contexts(vec![Context::new(from_a.clone()), Context::new(from_b.clone())]).await.unwrap();
        let (left, right) = tokio::join!(
            first.update_context(from_a.clone(), Context::new(target.clone())),
            second.update_context(from_b.clone(), Context::new(target.clone()))
        );
        let mut outcomes = [left.map(|_| ()).map_err(error_of), right.map(|_| ()).map_err(error_of)];
        outcomes.sort();
        let conflict = ("Conflict".to_owned(), format!("a context with external_id {target:?} already exists"));
        assert_eq!(outcomes, [Ok(()), Err(conflict)], "round {round}");
    }
}

/// Imports off the seed file's checks: a connection id twice (the first is kept, with its
/// authorization), a context named twice, a connection of an unknown context (`NotFound`
/// naming it), a grant of an unknown sandbox client (`Invalid`): the same on both.
#[tokio::test]
async fn imports_with_repeated_ids_or_unknown_references_answer_alike() {
    let both = Backends::with_demo().await;
    let connection = |id: &str, context: &str, status: &str| NewConnection {
        id: id.into(),
        context_external_id: context.into(),
        connector_slug: "slack".into(),
        enabled: true,
        authorization: Some(AuthorizationRecord {
            status: AuthorizationStatus::parse(status),
            error_code: Some(format!("{status}_code")),
            ..Default::default()
        }),
    };
    let twice = ImportBatch {
        contexts: vec![Context::new("twice"), Context::new("twice")],
        connections: vec![connection("dup", "twice", "error"), connection("dup", "twice", "active")],
        ..Default::default()
    };
    let unknown_context = ImportBatch {
        connections: vec![connection("ok", "twice", "active"), connection("lost", "nowhere", "active")],
        ..Default::default()
    };
    let mut answers = Vec::new();
    for (_, store) in both.both() {
        let report = store.import(twice.clone()).await.unwrap();
        let missing = store.import(unknown_context.clone()).await.unwrap_err();
        let mut unknown_client = seed::parse(seed::DEMO, "the demo").unwrap();
        unknown_client.sandbox.clients.clear();
        for grant in &mut unknown_client.sandbox.grants {
            grant.refresh_token = format!("{}-new", grant.refresh_token.expose_secret()).into();
            grant.client_id = "no-such-client".into();
        }
        let invalid = store.import(unknown_client).await.unwrap_err();
        let of_twice = EventFilter { context: Some("twice".into()), ..Default::default() };
        let events = all_events(store, &of_twice, 100).await;
        answers.push(json!([
            [report.contexts_added, report.connections_added],
            error_of(missing),
            error_of(invalid),
            events,
            format!("{:?}", store.stats().await.unwrap()),
        ]));
    }
    assert_eq!(answers[1], answers[0]);
    assert_eq!(answers[0][0], json!([1, 1]));
    assert_eq!(answers[0][1], json!(["NotFound", "no context with external_id \"nowhere\""]));
    assert_eq!(answers[0][2][0], "Invalid", "{}", answers[0][2]);
}

/// An authorization's status reads alike on both (the demo's ids are given in the same order);
/// an unknown one is the same `NotFound`.
#[tokio::test]
async fn authorization_status_reads_alike_on_both() {
    let both = Backends::with_demo().await;
    for id in [1, 2, 3, 50, 200, 99_999] {
        let sqlite = both.sqlite.authorization_status(id).await.map_err(error_of);
        let postgres = both.postgres.authorization_status(id).await.map_err(error_of);
        assert_eq!(postgres, sqlite, "authorization {id}");
    }
    assert!(both.postgres.authorization_status(1).await.is_ok());
}

/// `notice_newer_events` reads the newest seq itself: an event committed without a
/// notification (triggers off in that session) wakes the long-pollers once it is called.
#[tokio::test]
async fn notice_newer_events_raises_the_newest_seq_without_a_notification() {
    let url = fresh_database().await;
    let store = Store::connect_postgres(&url, 2).await.unwrap();
    let events = store.subscribe_events();
    let before = *events.borrow();
    let client = sql_client(&url).await;
    client
        .batch_execute(
            "SET session_replication_role = replica;
             INSERT INTO events (id, event_type, occurred_at, payload) VALUES ('quiet', 'origin.added', now(), '{}');",
        )
        .await
        .unwrap();
    let newest: i64 = client.query_one("SELECT MAX(seq) FROM events", &[]).await.unwrap().get(0);
    assert!(newest > before);
    store.notice_newer_events().await.unwrap();
    assert_eq!(*events.borrow(), newest);
}

/// Two nodes adding connections to the same context at once: its `connection_count` and
/// `severity` stay equal to its connections'.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_adding_connections_to_one_context_keep_its_counters() {
    let url = fresh_database().await;
    let first = Store::connect_postgres(&url, 2).await.unwrap();
    let second = Store::connect_postgres(&url, 2).await.unwrap();
    first.import(seed::parse(seed::DEMO, "the demo").unwrap()).await.unwrap();
    let adding = |node: &'static str, round: usize| ImportBatch {
        connections: vec![NewConnection {
            id: format!("{node}_{round}"),
            context_external_id: "org_acme".into(),
            // Different connectors: their connector counts are different rows.
            connector_slug: if node == "first" { "slack".into() } else { "github".into() },
            enabled: true,
            authorization: None,
        }],
        ..Default::default()
    };
    for round in 0..40 {
        let (left, right) = tokio::join!(first.import(adding("first", round)), second.import(adding("second", round)));
        left.unwrap();
        right.unwrap();
    }
    assert_counters_equal_a_recount(&url).await;
}
