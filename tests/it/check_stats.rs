//! Issue 13, the CLI: `check` answers from `GET /stats` plus the listing of the connections
//! needing attention where the server offers them, narrows `--context`, `--connector` and
//! `--expiring-within` on the server, and reports exactly what the full scan reports. The real
//! binary against the real server on 127.0.0.1, through a proxy that records what was asked
//! and how many connections were sent.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use xkit_dash::model::{Connection, Health};
use xkit_dash::server::scale;

use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::server::TestPlatform;

/// What the proxy does with `GET /stats`.
#[derive(Clone, Copy, PartialEq)]
enum StatsRoute {
    Offered,
    /// 404, like a server without the extension: `check` keeps the full scan.
    Hidden,
    /// 500: a server that has the route but fails.
    Failing,
}

/// A proxy in front of the real server that records every request and counts the connections
/// the bulk listing sent (pages and NDJSON lines alike).
struct RecordingProxy {
    url: String,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    stats: StatsRoute,
    http: reqwest::Client,
    /// `(path, query)` of every request, in order.
    requests: Mutex<Vec<(String, String)>>,
    connections_sent: Mutex<usize>,
}

impl RecordingProxy {
    async fn start(upstream: String, stats: StatsRoute) -> Self {
        let shared = Arc::new(Shared {
            upstream,
            stats,
            http: reqwest::Client::new(),
            requests: Mutex::new(Vec::new()),
            connections_sent: Mutex::new(0),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, shared }
    }

    /// The requests so far and the connections sent for them; forgets both.
    fn take(&self) -> (Vec<(String, String)>, usize) {
        let requests = std::mem::take(&mut *self.shared.requests.lock().unwrap());
        let sent = std::mem::take(&mut *self.shared.connections_sent.lock().unwrap());
        (requests, sent)
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or_default().to_owned();
    shared.requests.lock().unwrap().push((path.clone(), query.clone()));
    if path == "/api/platform/stats" {
        match shared.stats {
            StatsRoute::Offered => {}
            StatsRoute::Hidden => {
                return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "not found"}))).into_response();
            }
            StatsRoute::Failing => {
                return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": "counters unavailable"})))
                    .into_response();
            }
        }
    }
    let mut outgoing = shared.http.request(request.method().clone(), format!("{}{path}?{query}", shared.upstream));
    for (name, value) in request.headers() {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap();
    if path == "/api/platform/connections" {
        let ndjson = content_type.as_ref().is_some_and(|value| value.as_bytes().starts_with(b"application/x-ndjson"));
        let rows = if ndjson {
            bytes.iter().filter(|byte| **byte == b'\n').count()
        } else {
            serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|page| page["connections"].as_array().map(Vec::len))
                .unwrap_or(0)
        };
        *shared.connections_sent.lock().unwrap() += rows;
    }
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert("content-type", content_type);
    }
    response
}

/// A generated platform of `connections` (the demo's mix of healths, disabled ones included)
/// plus a context without any connection.
async fn platform(connections: usize) -> TestPlatform {
    let platform = TestPlatform::generated(connections).await;
    let (status, body) = platform.create_context(json!({"external_id": "zz-empty"})).await;
    assert!(status.is_success(), "{body}");
    platform
}

async fn run(home: &Home, platform: &TestPlatform, proxy: &RecordingProxy, args: &[&str]) -> std::process::Output {
    let mut command = home.against(platform, args);
    command.env("XKIT_API_URL", &proxy.url);
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

/// The report without its target (the two proxies have different URLs), or the text without
/// its `Target:` line.
fn report(output: &std::process::Output) -> String {
    let text = stdout(output);
    match serde_json::from_str::<Value>(&text) {
        Ok(mut report) => {
            report.as_object_mut().unwrap().remove("target");
            report.to_string()
        }
        Err(_) => text.lines().filter(|line| !line.starts_with("Target:")).collect::<Vec<_>>().join("\n"),
    }
}

fn health_of(connection: &Value) -> Health {
    let connection: Connection = serde_json::from_value(connection.clone()).unwrap();
    Health::of(Some(&connection))
}

/// On the same platform, the report from `stats` plus the unhealthy listing equals the full
/// scan's, in JSON (counts, contexts, the worst 1,000, `unhealthy_total`, `--since`) and in text
/// ("... and N more"), with the same exit code; and the stats path reads no healthy connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_from_stats_reports_what_the_full_scan_reports_reading_only_the_unhealthy() {
    let platform = platform(12_000).await;
    let home = Home::new();
    let with_stats = RecordingProxy::start(platform.server.base_url(), StatsRoute::Offered).await;
    let full_scan = RecordingProxy::start(platform.server.base_url(), StatsRoute::Hidden).await;
    let listed = platform.all_pages("/connections", "connections", 1000).await;
    let unhealthy = listed.iter().filter(|connection| health_of(connection).needs_attention()).count();
    assert!(unhealthy > 1000, "the platform lists more than the worst 1,000: {unhealthy}");

    for args in [&["check", "--json"][..], &["check"], &["check", "--since", "1h", "--json"]] {
        let from_stats = run(&home, &platform, &with_stats, args).await;
        let scanned = run(&home, &platform, &full_scan, args).await;
        assert_eq!(exit_code(&from_stats), 1, "{args:?}: {}", stderr(&from_stats));
        assert_eq!(exit_code(&scanned), 1, "{args:?}: {}", stderr(&scanned));
        assert_eq!(report(&from_stats), report(&scanned), "{args:?}");

        let (requests, sent) = with_stats.take();
        assert_eq!(sent, unhealthy, "{args:?}: the stats path is sent the unhealthy connections only");
        for (path, query) in &requests {
            if path == "/api/platform/connections" {
                assert!(query.contains("status=error") || query.contains("status=unknown"), "{query}");
            }
            if path == "/api/platform/contexts" {
                assert!(query.contains("status=not_installed"), "{query}");
            }
        }
        assert!(requests.iter().any(|(path, _)| path == "/api/platform/stats"));
        let (_, sent) = full_scan.take();
        assert_eq!(sent, listed.len(), "{args:?}: without /stats, the full scan");
    }

    let output = run(&home, &platform, &with_stats, &["check", "--json"]).await;
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["scanned"], listed.len());
    assert_eq!(report["contexts"], scale::context_count(12_000), "the empty context is not counted");
    assert_eq!(report["unhealthy_total"], unhealthy);
    assert_eq!(report["unhealthy"].as_array().unwrap().len(), 1000);
    assert_eq!(report["unhealthy"][0]["health"], "error", "worst first");
    platform.server.shutdown().await;
}

/// `--context`, `--connector` and `--expiring-within` are filters the server applies: `check`
/// is sent only the connections they select, and counts what a local filter of the whole
/// listing counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn narrowed_checks_are_filtered_by_the_server() {
    let platform = platform(2_000).await;
    let home = Home::new();
    let proxy = RecordingProxy::start(platform.server.base_url(), StatsRoute::Offered).await;
    let listed = platform.all_pages("/connections", "connections", 1000).await;
    let within = chrono::Utc::now() + chrono::Duration::hours(2);
    let expiring = |connection: &&Value| {
        connection["authorization"]["expires_at"]
            .as_str()
            .is_some_and(|at| chrono::DateTime::parse_from_rfc3339(at).unwrap() <= within)
    };
    let slug = |connection: &&Value| connection["connector"]["slug"].as_str().unwrap().to_owned();
    let context = |connection: &&Value| connection["context"]["external_id"].as_str().unwrap().to_owned();
    let cases: Vec<(Vec<&str>, usize)> = vec![
        (
            vec!["--connector", "slack", "--connector", "github"],
            listed.iter().filter(|c| ["slack", "github"].contains(&slug(c).as_str())).count(),
        ),
        (
            vec!["--context", "org_000001", "--context", "org_000002"],
            listed.iter().filter(|c| ["org_000001", "org_000002"].contains(&context(c).as_str())).count(),
        ),
        (vec!["--expiring-within", "2h"], listed.iter().filter(expiring).count()),
    ];
    for (filters, expected) in cases {
        assert!(expected > 0 && expected < listed.len() / 2, "{filters:?} selects a few: {expected}");
        let mut args = vec!["check", "--json"];
        args.extend(&filters);
        let output = run(&home, &platform, &proxy, &args).await;
        assert!([0, 1].contains(&exit_code(&output)), "{filters:?}: {}", stderr(&output));
        let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert_eq!(report["scanned"], expected, "{filters:?}");
        let (requests, sent) = proxy.take();
        assert_eq!(sent, expected, "{filters:?}: the server sent only what the filters select");
        let filter = filters[0].trim_start_matches("--").replace('-', "_");
        assert!(
            requests
                .iter()
                .filter(|(path, _)| path == "/api/platform/connections")
                .all(|(_, query)| query.contains(&filter)),
            "{filters:?}: {requests:?}"
        );
        if filters[0] == "--expiring-within" {
            assert_eq!(report["unhealthy_total"], expected, "every expiring connection is listed");
        }
    }
    platform.server.shutdown().await;
}

/// What the stats path does with what it cannot use: a failing `/stats` stops the check with
/// exit 2 (it is not a server without the extension: falling back would hide the failure), the
/// row budget bounds the unhealthy rows it reads, and an unknown context is an empty check on
/// both paths alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stats_path_refuses_what_it_cannot_answer() {
    let platform = platform(2_000).await;
    let home = Home::new();
    let failing = RecordingProxy::start(platform.server.base_url(), StatsRoute::Failing).await;
    let output = run(&home, &platform, &failing, &["check", "--json"]).await;
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("GET /stats"), "{}", stderr(&output));
    assert_eq!(stdout(&output), "", "no report from half the answers");

    let with_stats = RecordingProxy::start(platform.server.base_url(), StatsRoute::Offered).await;
    let output = run(&home, &platform, &with_stats, &["check", "--json", "--max-connections", "20"]).await;
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("more than 20 connections"), "{}", stderr(&output));

    let full_scan = RecordingProxy::start(platform.server.base_url(), StatsRoute::Hidden).await;
    let args = ["check", "--json", "--context", "no-such-context"];
    let from_stats = run(&home, &platform, &with_stats, &args).await;
    let scanned = run(&home, &platform, &full_scan, &args).await;
    assert_eq!(exit_code(&from_stats), exit_code(&scanned), "{}", stderr(&from_stats));
    assert_eq!(report(&from_stats), report(&scanned));
    platform.server.shutdown().await;
}
