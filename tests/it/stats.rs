//! Issue 13, the server side: `GET /stats` from maintained counters, the contexts listing
//! filtered and sorted on the server, the bulk listing's filters, and its NDJSON export (with
//! the CLI using it), all against the real server on 127.0.0.1.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xkit_dash::model::{Connection, Health};

use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::server::{TestPlatform, assert_error};

const NDJSON: &str = "application/x-ndjson";

/// A generated platform of `connections` (five per context, the demo's mix of healths).
async fn generated(connections: usize) -> TestPlatform {
    TestPlatform::generated(connections).await
}

/// Every connection, through the paged bulk listing.
async fn all_connections(platform: &TestPlatform, filter: &str) -> Vec<Value> {
    platform.all_pages(&format!("/connections?{filter}"), "connections", 1000).await
}

fn health_of(connection: &Value) -> Health {
    let connection: Connection = serde_json::from_value(connection.clone()).unwrap();
    Health::of(Some(&connection))
}

/// What `/stats` and the contexts' counters must say, recounted from every listed row.
struct Recount {
    stats: Value,
    /// Per context: its most severe health (none without connections) and its connection count.
    contexts: BTreeMap<String, (Option<Health>, u64)>,
    /// Per context: the connectors it has a connection to.
    connectors: BTreeMap<String, BTreeSet<String>>,
}

async fn recount(platform: &TestPlatform) -> Recount {
    let connections = all_connections(platform, "").await;
    let contexts = platform.all_pages("/contexts", "contexts", 1000).await;
    let slugs = platform.all_pages("/connectors", "connectors", 1000).await;
    let word = |health: Health| health.word().replace(' ', "_");
    let zero = || json!({"active": 0, "pending": 0, "unknown": 0, "error": 0, "disabled": 0});
    let mut totals = zero();
    let mut per_connector: BTreeMap<String, (u64, Value)> =
        slugs.iter().map(|connector| (connector["slug"].as_str().unwrap().to_owned(), (0, zero()))).collect();
    let mut per_context: BTreeMap<String, (Option<Health>, u64)> =
        contexts.iter().map(|context| (context["external_id"].as_str().unwrap().to_owned(), (None, 0))).collect();
    let mut connectors_of: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for connection in &connections {
        let health = health_of(connection);
        let slug = connection["connector"]["slug"].as_str().unwrap().to_owned();
        let context = connection["context"]["external_id"].as_str().unwrap().to_owned();
        totals[word(health)] = json!(totals[word(health)].as_u64().unwrap() + 1);
        let (count, healths) = per_connector.get_mut(&slug).unwrap();
        *count += 1;
        healths[word(health)] = json!(healths[word(health)].as_u64().unwrap() + 1);
        let (worst, count) = per_context.get_mut(&context).unwrap();
        *count += 1;
        if worst.is_none_or(|worst| health.severity() > worst.severity()) {
            *worst = Some(health);
        }
        connectors_of.entry(context).or_default().insert(slug);
    }
    let connectors: Vec<Value> = per_connector
        .into_iter()
        .map(|(slug, (connections, health))| json!({"slug": slug, "connections": connections, "health": health}))
        .collect();
    Recount {
        stats: json!({"contexts": contexts.len(), "connections": connections.len(), "health": totals, "connectors": connectors}),
        contexts: per_context,
        connectors: connectors_of,
    }
}

async fn assert_counters_equal_a_recount(platform: &TestPlatform, when: &str) {
    let expected = recount(platform).await;
    let (status, stats) = platform.get("/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats, expected.stats, "stats {when}");
    let listed: BTreeMap<String, (Option<Health>, u64)> = platform
        .all_pages("/contexts", "contexts", 1000)
        .await
        .iter()
        .map(|context| {
            let health = context["health"].as_str().map(|health| health.parse().unwrap());
            (
                context["external_id"].as_str().unwrap().to_owned(),
                (health, context["connection_count"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(listed, expected.contexts, "contexts' health and connection_count {when}");
}

/// Writers at once through the API (new contexts, removed connections, renames) keep the counters
/// equal to a full recount, and a restart keeps them so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_equal_a_recount_after_concurrent_writers_and_a_restart() {
    let platform = TestPlatform::demo().await;
    assert_counters_equal_a_recount(&platform, "of the demo").await;
    let connections = all_connections(&platform, "status=active").await;
    let targets: Vec<(String, String)> = connections
        .iter()
        .map(|connection| {
            let context = connection["context"]["external_id"].as_str().unwrap().to_owned();
            (context, connection["connector"]["slug"].as_str().unwrap().to_owned())
        })
        .collect();
    let platform = std::sync::Arc::new(platform);
    let writers: Vec<_> = (0..6)
        .map(|writer| {
            let platform = platform.clone();
            let targets: Vec<_> = targets.iter().skip(writer).step_by(6).take(8).cloned().collect();
            tokio::spawn(async move {
                for (step, (context, slug)) in targets.into_iter().enumerate() {
                    let (status, body) =
                        platform.create_context(json!({"external_id": format!("new-{writer}-{step}")})).await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                    let removed = platform.request(Method::DELETE, &format!("/contexts/{context}/connections/{slug}"));
                    assert_eq!(removed.send().await.unwrap().status(), StatusCode::OK);
                    if step % 3 == 0 {
                        let renamed = json!({"context": {"external_id": format!("renamed-{writer}-{step}")}});
                        let path = format!("/contexts/new-{writer}-{step}");
                        let response = platform.request(Method::PATCH, &path).json(&renamed);
                        assert_eq!(response.send().await.unwrap().status(), StatusCode::OK);
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    let platform = std::sync::Arc::into_inner(platform).unwrap();
    let (_, stats) = platform.get("/stats").await;
    assert!(stats["health"]["disabled"].as_u64().unwrap() >= 40, "the writers disabled connections: {stats}");
    assert_counters_equal_a_recount(&platform, "after concurrent writers").await;
    let typed = platform.client().stats().await.expect("the client reads the stats");
    assert_eq!(serde_json::to_value(&typed).unwrap(), platform.get("/stats").await.1);
    let platform = platform.restart().await;
    assert_counters_equal_a_recount(&platform, "after a restart").await;
    platform.server.shutdown().await;
}

/// Whether a test's expectation selects an item.
type Selects<'a, T> = Box<dyn Fn(&T) -> bool + 'a>;

/// A context's sort value, as the listing orders it.
fn sort_key(context: &Value, sort: &str) -> (i64, String) {
    let id = context["external_id"].as_str().unwrap().to_owned();
    let value = match sort {
        "health" => context["health"].as_str().map_or(0, |health| health.parse::<Health>().unwrap().severity().into()),
        "connections" => context["connection_count"].as_i64().unwrap(),
        _ => 0,
    };
    (value, id)
}

/// Every sort, in both orders, under each filter and their combinations, pages (7 at a time)
/// through exactly the contexts a recount selects, in order, with no duplicate and no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contexts_filter_and_sort_on_the_server_with_keyset_paging() {
    let platform = generated(1_200).await;
    let expected = recount(&platform).await;
    let connector = "slack";
    assert!(expected.connectors.values().any(|slugs| slugs.contains(connector)), "the generated platform uses slack");
    let filters: [(&str, Selects<'_, str>); 6] = [
        ("", Box::new(|_| true)),
        ("status=error", Box::new(|id| expected.contexts[id].0 == Some(Health::Error))),
        ("status=active", Box::new(|id| expected.contexts[id].0 == Some(Health::Active))),
        ("connector=slack", Box::new(|id| expected.connectors.get(id).is_some_and(|slugs| slugs.contains(connector)))),
        (
            "status=error&connector=slack",
            Box::new(|id| {
                expected.contexts[id].0 == Some(Health::Error)
                    && expected.connectors.get(id).is_some_and(|slugs| slugs.contains(connector))
            }),
        ),
        ("search=org_0001", Box::new(|id| id.contains("org_0001"))),
    ];
    for (filter, selects) in &filters {
        let wanted: BTreeSet<String> = expected.contexts.keys().filter(|id| selects(id)).cloned().collect();
        assert!(!wanted.is_empty(), "{filter} selects some contexts");
        for sort in ["external_id", "health", "connections"] {
            for order in ["asc", "desc"] {
                let path = format!("/contexts?{filter}&sort={sort}&order={order}");
                let listed = platform.all_pages(&path, "contexts", 7).await;
                let ids: Vec<String> =
                    listed.iter().map(|context| context["external_id"].as_str().unwrap().into()).collect();
                let unique: BTreeSet<String> = ids.iter().cloned().collect();
                assert_eq!(unique.len(), ids.len(), "{path}: no duplicates");
                assert_eq!(unique, wanted, "{path}: exactly the selected contexts");
                let keys: Vec<_> = listed.iter().map(|context| sort_key(context, sort)).collect();
                let mut sorted = keys.clone();
                sorted.sort();
                if order == "desc" {
                    sorted.reverse();
                }
                assert_eq!(keys, sorted, "{path}: in order");
                for context in &listed {
                    let id = context["external_id"].as_str().unwrap();
                    let health = context["health"].as_str().map(|health| health.parse().unwrap());
                    assert_eq!(
                        (health, context["connection_count"].as_u64().unwrap()),
                        expected.contexts[id],
                        "{path}"
                    );
                }
            }
        }
    }
    platform.server.shutdown().await;
}

/// Every parameter is checked: a bad one is a 400 with `{"error"}`, never a guess.
#[tokio::test]
async fn bad_filter_sort_and_cursor_parameters_are_refused() {
    let platform = TestPlatform::demo().await;
    let (_, first) = platform.get("/contexts?sort=health&limit=2").await;
    let health_cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, first) = platform.get("/contexts?limit=2").await;
    let plain_cursor = first["next_cursor"].as_str().unwrap().to_owned();
    for path in [
        "/contexts?status=fine".to_owned(),
        "/contexts?sort=name".to_owned(),
        "/contexts?order=up".to_owned(),
        "/contexts?connector=Not%20A%20Slug".to_owned(),
        format!("/contexts?sort=connections&cursor={health_cursor}"),
        format!("/contexts?sort=health&order=desc&cursor={health_cursor}"),
        format!("/contexts?sort=health&cursor={plain_cursor}"),
        "/contexts?cursor=garbage".to_owned(),
        "/connections?status=not_installed".to_owned(),
        "/connections?status=fine".to_owned(),
        "/connections?connector=Not%20A%20Slug".to_owned(),
        "/connections?expiring_within=soon".to_owned(),
        "/connections?expiring_within=100years".to_owned(),
    ] {
        assert_error(&platform.get(&path).await, StatusCode::BAD_REQUEST);
    }
    // The NDJSON export checks its parameters before it starts.
    let response =
        platform.request(Method::GET, "/connections?status=fine").header("accept", NDJSON).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.json::<Value>().await.unwrap()["error"].is_string());
    // A status filter that selects nothing is an empty list, not an error.
    let (status, body) = platform.get("/contexts?status=not_installed").await;
    assert_eq!((status, body["contexts"].as_array().map(Vec::len)), (StatusCode::OK, Some(0)), "{body}");
    platform.server.shutdown().await;
}

/// The bulk listing's filters, alone and together, select what a client-side filter of the
/// whole listing selects; `expiring_within` the connections whose authorization expires in time.
#[tokio::test]
async fn bulk_connections_filter_by_status_connector_context_and_expiry() {
    let platform = TestPlatform::demo().await;
    let everything = all_connections(&platform, "").await;
    let id = |connection: &Value| connection["id"].as_str().unwrap().to_owned();
    let context_of = |connection: &Value| connection["context"]["external_id"].as_str().unwrap().to_owned();
    let expires_before = |connection: &Value, within: Duration| {
        let deadline = chrono::Utc::now() + chrono::Duration::from_std(within).unwrap();
        connection["authorization"]["expires_at"]
            .as_str()
            .is_some_and(|at| chrono::DateTime::parse_from_rfc3339(at).unwrap() <= deadline)
    };
    let some_context = context_of(&everything[0]);
    let cases: Vec<(String, Selects<'_, Value>)> = vec![
        ("status=error".into(), Box::new(|c| health_of(c) == Health::Error)),
        (
            "status=error&connector=google-drive".into(),
            Box::new(|c| health_of(c) == Health::Error && c["connector"]["slug"] == "google-drive"),
        ),
        (
            "connector=slack&status=active".into(),
            Box::new(|c| health_of(c) == Health::Active && c["connector"]["slug"] == "slack"),
        ),
        (format!("context={some_context}"), Box::new(|c| context_of(c) == some_context)),
        ("expiring_within=2h".into(), Box::new(|c| expires_before(c, Duration::from_secs(7200)))),
        (
            "expiring_within=30d&status=active".into(),
            Box::new(|c| health_of(c) == Health::Active && expires_before(c, Duration::from_secs(30 * 86400))),
        ),
    ];
    for (filter, selects) in cases {
        let wanted: Vec<String> = everything.iter().filter(|c| selects(c)).map(id).collect();
        let listed: Vec<String> = all_connections(&platform, &filter).await.iter().map(id).collect();
        assert!(!wanted.is_empty(), "{filter} selects some connections");
        assert_eq!(listed, wanted, "{filter}");
    }
    let soon = all_connections(&platform, "expiring_within=2h").await.len();
    assert!(soon < all_connections(&platform, "expiring_within=3650d").await.len(), "the window narrows the listing");
    platform.server.shutdown().await;
}

/// Reads an NDJSON export: its content type and its lines, each one JSON object.
async fn export(platform: &TestPlatform, filter: &str) -> Vec<Value> {
    let response =
        platform.request(Method::GET, &format!("/connections?{filter}")).header("accept", NDJSON).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], NDJSON);
    let text = response.text().await.unwrap();
    assert!(text.ends_with('\n'), "every line ends");
    text.lines().map(|line| serde_json::from_str::<Value>(line).expect("one JSON object per line")).collect()
}

/// One response holds the whole (filtered) listing, line for line what the pages list.
#[tokio::test]
async fn ndjson_export_streams_the_whole_filtered_listing_as_the_pages_list_it() {
    let platform = generated(2_500).await;
    for filter in ["", "status=error", "connector=slack&status=active", "context=org_000007"] {
        let streamed = export(&platform, filter).await;
        assert!(streamed.iter().all(Value::is_object));
        assert_eq!(streamed, all_connections(&platform, filter).await, "{filter}");
    }
    assert_eq!(export(&platform, "").await.len(), 2_500);
    platform.server.shutdown().await;
}

/// Exports that nobody reads hold their own streams only: other requests are answered at once,
/// one more export than the bound is refused with a 503, and once the readers go away their
/// exports end and a new one streams in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_nobody_reads_hold_no_one_else_and_end_when_the_reader_goes() {
    // About 10 MB of NDJSON: more than the sockets buffer, so an unread export stalls.
    const CONNECTIONS: usize = 20_000;
    // The bound on exports is each node's own.
    let platform = generated(CONNECTIONS).await.single_node().await;
    let mut stalled = Vec::new();
    for _ in 0..4 {
        let response = platform.request(Method::GET, "/connections").header("accept", NDJSON).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        stalled.push(response);
    }
    let started = Instant::now();
    let (status, stats) = platform.get("/stats").await;
    assert_eq!((status, stats["connections"].as_u64()), (StatusCode::OK, Some(CONNECTIONS as u64)));
    assert_eq!(platform.get("/connections?limit=10").await.0, StatusCode::OK);
    assert_eq!(platform.get("/contexts?sort=health&limit=10").await.0, StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2), "answered in {:?}", started.elapsed());
    let refused = platform.request(Method::GET, "/connections").header("accept", NDJSON).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.json::<Value>().await.unwrap()["error"].is_string());

    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(5);
    let lines = loop {
        let response = platform.request(Method::GET, "/connections").header("accept", NDJSON).send().await.unwrap();
        if response.status() == StatusCode::OK {
            break response.text().await.unwrap().lines().count();
        }
        assert!(Instant::now() < deadline, "the abandoned exports still hold their slots");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(lines, CONNECTIONS);
    platform.server.shutdown().await;
}

/// `connections --json` against the real server prints what the paged listing lists, and the
/// row budget stops a stream that passes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_json_prints_the_whole_listing_within_the_row_budget() {
    let platform = generated(1_200).await;
    let home = Home::new();
    let output = home.against(&platform, &["connections", "--json"]).output().unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let printed: Vec<Value> = stdout(&output).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let ids: BTreeSet<&str> = printed.iter().map(|row| row["connection_id"].as_str().unwrap()).collect();
    let listed = all_connections(&platform, "").await;
    assert_eq!(ids, listed.iter().map(|connection| connection["id"].as_str().unwrap()).collect());
    assert_eq!(printed.len(), 1_200);

    let output = home.against(&platform, &["connections", "--json", "--max-connections", "700"]).output().unwrap();
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("more than 700 connections"), "{}", stderr(&output));
    platform.server.shutdown().await;
}

/// A server that streams `rows` connections (about 500 bytes a line, generated as they are
/// sent) and answers 500 to any request for pages; how many pages were asked for.
async fn stream_only_server(
    rows: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>, tokio::task::JoinHandle<()>) {
    let pages_asked = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let asked = pages_asked.clone();
    let app = axum::Router::new().route(
        "/api/platform/connections",
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let asked = asked.clone();
            async move {
                let wants_stream = headers
                    .get("accept")
                    .and_then(|value| value.to_str().ok())
                    .is_some_and(|value| value.contains(NDJSON));
                if !wants_stream {
                    asked.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return axum::response::Response::builder()
                        .status(500)
                        .body(axum::body::Body::from(r#"{"error":"pages are not served here"}"#))
                        .unwrap();
                }
                let padding = "p".repeat(400);
                let lines = futures::stream::iter((0..rows).step_by(1000)).map(move |first| {
                    let mut text = String::new();
                    for n in first..(first + 1000).min(rows) {
                        text.push_str(&format!(
                            r#"{{"id":"c{n}-{padding}","enabled":true,"connector":{{"name":"S","slug":"s"}},"authorization":{{"status":"active"}},"context":{{"external_id":"x{n}"}}}}"#
                        ));
                        text.push('\n');
                    }
                    Ok::<_, std::io::Error>(text)
                });
                axum::response::Response::builder()
                    .header("content-type", NDJSON)
                    .body(axum::body::Body::from_stream(lines))
                    .unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, pages_asked, server)
}

/// `connections --json` asks for the stream: against a server that refuses pages it prints
/// every streamed connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_json_asks_for_the_stream() {
    let (url, pages_asked, server) = stream_only_server(300).await;
    let home = Home::new();
    let output = home.pointed_at(&url, "pk", "sk", &["connections", "--json"]).output().unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 300);
    assert_eq!(pages_asked.load(std::sync::atomic::Ordering::SeqCst), 0, "no page was asked for");
    server.abort();
}

/// A stream longer than the 64 MiB cap of a paged answer is read in full: the row budget, not
/// the body cap, bounds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_longer_than_the_body_cap_is_read_in_full_within_the_row_budget() {
    const ROWS: usize = 150_000;
    let (url, pages_asked, server) = stream_only_server(ROWS).await;
    let target = xkit_dash::client::ApiTarget { api_url: url, publishable_key: "pk".into(), secret_key: "sk".into() };
    let client = xkit_dash::client::Client::new(&target, &Default::default()).unwrap();
    let request = xkit_dash::scan::ScanRequest { max_connections: 200_000, ..Default::default() };
    let connections = xkit_dash::scan::collect(client.clone(), request).await.expect("the whole stream");
    assert_eq!(connections.len(), ROWS);
    assert_eq!(connections[ROWS - 1].context.as_ref().unwrap().external_id, format!("x{}", ROWS - 1));
    let request = xkit_dash::scan::ScanRequest { max_connections: 100_000, ..Default::default() };
    let refused = xkit_dash::scan::collect(client, request).await.unwrap_err();
    assert!(refused.to_string().contains("more than 100000 connections"), "{refused}");
    assert_eq!(pages_asked.load(std::sync::atomic::Ordering::SeqCst), 0, "no page was asked for");
    server.abort();
}
