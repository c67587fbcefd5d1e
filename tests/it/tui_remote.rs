//! The remote-backed dashboard: the real binary in a pseudo-terminal against a generated
//! platform on the real server, every request it makes recorded by a proxy in between, so
//! the tests see both the screen and what was asked of the server.

use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use xkit_dash::client::ContextQuery;
use xkit_dash::model::{ConnectionFilter, Health};
use xkit_dash::server::scale;

use crate::support::proxy::pass_through;
use crate::support::server::TestPlatform;
use crate::tui_e2e::Dashboard;

/// Past the dashboard's threshold for reading pages instead of loading everything.
const CONNECTIONS: usize = 20_000;

/// Every request's `path?query`, forwarded to the real server.
#[derive(Clone)]
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone)]
struct Upstream {
    base: String,
    http: reqwest::Client,
    seen: Arc<Mutex<Vec<String>>>,
    /// Answer 404 to `GET /stats`, like a plain Xkit.
    without_stats: bool,
}

impl Recorder {
    async fn start(upstream: String, without_stats: bool) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = Upstream { base: upstream, http: reqwest::Client::new(), seen: seen.clone(), without_stats };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, seen }
    }

    fn requests(&self, path: &str) -> Vec<String> {
        let seen = self.seen.lock().unwrap();
        seen.iter().filter(|line| line.split('?').next() == Some(path)).cloned().collect()
    }
}

async fn forward(State(upstream): State<Upstream>, request: Request) -> Response {
    let path_and_query = request.uri().path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_default();
    let accept = request.headers().get("accept").and_then(|value| value.to_str().ok()).unwrap_or_default().to_owned();
    let ndjson = if accept.contains("ndjson") { " (ndjson)" } else { "" };
    upstream.seen.lock().unwrap().push(format!("{path_and_query}{ndjson}"));
    if upstream.without_stats && request.uri().path() == "/api/platform/stats" {
        return (StatusCode::NOT_FOUND, axum::Json(serde_json::json!({"error": "not found"}))).into_response();
    }
    pass_through(&upstream.http, format!("{}{path_and_query}", upstream.base), request).await
}

#[test]
fn a_large_platform_shows_totals_pages_filters_and_triage_without_loading_everything() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(scale::seed(dir.path(), CONNECTIONS)).expect("seeding");
    let platform = runtime.block_on(TestPlatform::in_dir(dir, |config| config));
    let recorder =
        runtime.block_on(Recorder::start(platform.server.base_url().trim_end_matches('/').to_owned(), false));
    let client = platform.client();
    let stats = runtime.block_on(client.stats()).unwrap();
    let first = runtime.block_on(client.query_contexts(&ContextQuery::default(), None, Some(1))).unwrap();
    let last_query = ContextQuery { descending: true, ..ContextQuery::default() };
    let last = runtime.block_on(client.query_contexts(&last_query, None, Some(1))).unwrap();
    let error_query = ContextQuery { health: Some(Health::Error), ..ContextQuery::default() };
    let first_error = runtime.block_on(client.query_contexts(&error_query, None, Some(1))).unwrap();
    let error_filter = ConnectionFilter { health: Some(Health::Error), ..ConnectionFilter::default() };
    let first_error_connection = runtime.block_on(client.list_connections(&error_filter, None, Some(1))).unwrap();

    let env = [
        ("XKIT_API_URL", recorder.url.clone()),
        ("XKIT_PUBLISHABLE_KEY", platform.keys.publishable_key.clone()),
        ("XKIT_SECRET_KEY", platform.secret().to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let mut dash = Dashboard::start(&env, &[]);

    // The totals come from the server's counters, and the first page of contexts appears.
    let totals = format!("{} contexts", stats.contexts);
    let connections = format!("{} connections", stats.connections);
    let error_total = format!("{} error", stats.health.error);
    let first_id = first.contexts[0].external_id.clone();
    let screen = dash.wait_for("the totals and the first contexts", |text| {
        text.contains(&totals) && text.contains(&connections) && text.contains(&error_total) && text.contains(&first_id)
    });
    assert!(screen.contains(&format!("Contexts {}", stats.contexts)), "{screen}");
    // The selected (first) context's connections are read on their own, the disabled ones too.
    let count = first.contexts[0].connection_count.expect("the server counts a context's connections");
    dash.wait_for_text(&format!("Connections of {first_id} {count}"));
    let wanted = format!("context={first_id}");
    dash.wait_for("the first context's connections", |_| {
        recorder.requests("/api/platform/connections").iter().any(|request| request.contains(&wanted))
    });

    // `G` reaches the last context in one backward read.
    dash.press("G");
    let last_id = last.contexts[0].external_id.clone();
    dash.wait_for_text(&last_id);
    assert!(
        recorder.requests("/api/platform/contexts").iter().any(|request| request.contains("order=desc")),
        "{:#?}",
        recorder.requests("/api/platform/contexts")
    );

    // A status term is the server's filter.
    dash.press("g");
    dash.press("/");
    dash.type_text("status:error");
    dash.press("\r");
    let first_error_id = first_error.contexts[0].external_id.clone();
    dash.wait_for("the error contexts", |text| text.contains("/status:error") && text.contains(&first_error_id));
    assert!(
        recorder.requests("/api/platform/contexts").iter().any(|request| request.contains("status=error")),
        "{:#?}",
        recorder.requests("/api/platform/contexts")
    );

    // Triage: the error and unknown connections, counted by the server, paged from the bulk
    // listing's status filter.
    dash.press("\u{1b}");
    dash.press("t");
    let triage = (stats.health.error + stats.health.unknown).to_string();
    dash.wait_for_text(&format!("TRIAGE: needs attention {triage}"));
    // Errors first: the first error connection the bulk listing has is on the first row.
    let first_label = first_error_connection.connections[0].connector.name.clone();
    let screen = dash.wait_for("the first error connections", |text| {
        text.lines().any(|line| line.contains("✗ error") && line.contains(&first_label))
    });
    assert!(!screen.contains("loading…") || screen.contains("✗ error"), "{screen}");
    let bulk = recorder.requests("/api/platform/connections");
    assert!(!bulk.is_empty(), "triage reads the bulk listing");
    for request in &bulk {
        // The unhealthy set, or one held context's connection an event said changed.
        let narrow = ["status=error", "status=unknown", "context="].iter().any(|term| request.contains(term));
        assert!(narrow, "only the unhealthy set is read: {request}");
        assert!(!request.contains("ndjson"), "nothing is exported: {request}");
    }
    let pages = recorder.requests("/api/platform/contexts").len();
    assert!(
        pages < 40,
        "{pages} contexts pages read for a few screens: {:#?}",
        recorder.requests("/api/platform/contexts")
    );

    dash.press("q");
    assert!(dash.wait_exit());
    runtime.block_on(platform.server.shutdown());
}

#[test]
fn a_large_platform_on_a_server_without_totals_is_loaded_whole_as_before() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(scale::seed(dir.path(), CONNECTIONS)).expect("seeding");
    let platform = runtime.block_on(TestPlatform::in_dir(dir, |config| config));
    let recorder = runtime.block_on(Recorder::start(platform.server.base_url().trim_end_matches('/').to_owned(), true));
    let env = [
        ("XKIT_API_URL", recorder.url.clone()),
        ("XKIT_PUBLISHABLE_KEY", platform.keys.publishable_key.clone()),
        ("XKIT_SECRET_KEY", platform.secret().to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let mut dash = Dashboard::start(&env, &[]);
    // Every connection is loaded and counted by the dashboard itself.
    dash.wait_for("the whole platform", |text| {
        text.contains(&format!("{CONNECTIONS} connections")) && text.contains("loaded ")
    });
    assert_eq!(recorder.requests("/api/platform/stats").len(), 1, "asked once");
    let bulk = recorder.requests("/api/platform/connections");
    assert!(bulk.iter().any(|request| !request.contains("status=")), "the full scan: {bulk:#?}");
    assert!(
        recorder.requests("/api/platform/contexts").iter().all(|request| !request.contains("order=desc")),
        "no paging from the end"
    );
    dash.press("q");
    assert!(dash.wait_exit());
    runtime.block_on(platform.server.shutdown());
}
