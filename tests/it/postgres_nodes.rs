//! Issue 14, items 3 and 4: two server nodes (two `start` in this process, each with its own data
//! directory and port) on one fresh PostgreSQL database, over real HTTP. Stateless nodes: a
//! context token, a session, a catalog repair flow and a key revocation cross from one node to
//! the other. Coordination through the database: one provider token request for twenty reads
//! spread over both nodes, each webhook delivered once and in order by both nodes' workers, a
//! long-poll on one node woken by a write on the other, and the scheduler on both nodes
//! refreshing each due connection once. The faults (item 5) are in `postgres_faults`.

use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use xkit_dash::server::scheduler::SchedulerSettings;
use xkit_dash::server::{KeyPair, RunningServer, ServerConfig, create_key_pair_at, start};

use crate::support::cli::{Home, exit_code, stderr};
use crate::support::hostile::{Answer, HostileServer};
use crate::support::oauth::{browser, location, page_post, query_value};
use crate::support::postgres::fresh_database_on;
use crate::support::server::send;

/// A token endpoint's answer: an hour-long access token `new`, no rotation.
pub const FRESH_TOKENS: &str = r#"{"access_token": "new", "token_type": "Bearer", "expires_in": 3600}"#;

/// Two nodes of one platform on one PostgreSQL database, and a key pair of that platform.
pub struct Nodes {
    pub a: RunningServer,
    pub b: RunningServer,
    pub database: String,
    pub keys: KeyPair,
    pub http: reqwest::Client,
    _dirs: [tempfile::TempDir; 2],
}

impl Nodes {
    /// Two nodes on a fresh database of the server at `server_url`, each configured by
    /// `configure` (node A starts first: it seeds the platform, B finds it seeded).
    pub async fn start(server_url: &str, configure: impl Fn(ServerConfig) -> ServerConfig) -> Nodes {
        Self::start_on(fresh_database_on(server_url).await, configure).await
    }

    /// Two nodes on the database at `database` (it may be new, or hold a platform).
    pub async fn start_on(database: String, configure: impl Fn(ServerConfig) -> ServerConfig) -> Nodes {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let config = |dir: &tempfile::TempDir| {
            configure(ServerConfig {
                database: Some(secrecy::SecretString::from(database.clone())),
                read_connections: 16,
                ..ServerConfig::new(dir.path())
            })
        };
        let a = start(config(&dirs[0])).await.expect("node A starts");
        let b = start(config(&dirs[1])).await.expect("node B starts");
        let keys = create_key_pair_at(&config(&dirs[0]).location()).await.expect("a key pair");
        Nodes { a, b, database, keys, http: reqwest::Client::new(), _dirs: dirs }
    }

    /// A seed file of its own (kept as long as the returned directory), for `ServerConfig::seed`.
    pub fn seed_file(seed: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seed.json");
        std::fs::write(&path, seed).unwrap();
        (dir, path)
    }

    /// Node 0 is A, node 1 is B.
    pub fn base(&self, node: usize) -> String {
        if node.is_multiple_of(2) { self.a.base_url() } else { self.b.base_url() }
    }

    pub fn request(&self, node: usize, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/platform{path}", self.base(node)))
            .basic_auth(&self.keys.publishable_key, Some(self.keys.secret_key.expose_secret()))
    }

    pub async fn get(&self, node: usize, path: &str) -> (StatusCode, Value) {
        send(self.request(node, Method::GET, path)).await
    }

    pub async fn post(&self, node: usize, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(node, Method::POST, path).json(&body)).await
    }

    /// Every event of the platform so far, oldest first (bounded).
    pub async fn events(&self, node: usize, query: &str) -> Vec<Value> {
        let mut events = Vec::new();
        let mut cursor = String::new();
        for _ in 0..1_000 {
            let (status, body) = self.get(node, &format!("/events?after={cursor}&limit=500&{query}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let page = body["events"].as_array().unwrap();
            events.extend(page.iter().cloned());
            cursor = body["next_cursor"].as_str().unwrap().to_owned();
            if page.len() < 500 {
                return events;
            }
        }
        panic!("the event history did not end within 1,000 pages");
    }

    /// The refreshes saved so far, from the platform's hourly refresh counts.
    pub async fn refreshes_counted(&self, node: usize) -> u64 {
        let (status, counts) = self.get(node, "/events/refreshes").await;
        assert_eq!(status, StatusCode::OK, "{counts}");
        counts["hours"].as_array().unwrap().iter().map(|hour| hour["refreshed"].as_u64().unwrap()).sum()
    }

    /// The cursor after every event so far.
    pub async fn newest_cursor(&self, node: usize) -> String {
        let (status, body) = self.get(node, "/events?after=&limit=500").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["events"].as_array().unwrap().len() < 500, "a young platform: {body}");
        body["next_cursor"].as_str().unwrap().to_owned()
    }

    pub async fn shutdown(self) {
        self.a.shutdown().await;
        self.b.shutdown().await;
    }
}

/// The test cluster's server (shared by the tests that do not stop it).
fn shared_server() -> String {
    crate::support::postgres::server_url()
}

/// `u1` holds one connection per slug, `conn-<slug>`, whose token expires at `expires_at` and
/// was last refreshed at `last_refreshed_at`; each connector's token endpoint is its own path
/// on `provider` (`/<slug>/token`), so the provider counts the requests per connection.
pub fn seed(provider: &str, slugs: &[&str], expires_at: &str, last_refreshed_at: &str) -> String {
    let connectors: Vec<Value> = slugs
        .iter()
        .map(|slug| {
            json!({"slug": slug, "name": slug, "oauth": {"authorize_url": format!("{provider}/{slug}/authorize"),
                "token_url": format!("{provider}/{slug}/token"), "client_id": "id", "client_secret": "secret"}})
        })
        .collect();
    let connections: Vec<Value> = slugs
        .iter()
        .map(|slug| {
            json!({"id": format!("conn-{slug}"), "context": "u1", "connector": slug, "authorization": {
                "status": "active", "access_token": "old", "refresh_token": format!("rt-{slug}"),
                "expires_at": expires_at, "last_refreshed_at": last_refreshed_at}})
        })
        .collect();
    json!({"connectors": connectors, "contexts": [{"external_id": "u1"}], "connections": connections}).to_string()
}

/// Polls `condition` every 20 ms until it holds or `within` passes; whether it held.
async fn eventually(within: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---- stateless nodes ------------------------------------------------------------------------

/// A context token minted on A is accepted on B, and a cookie session made on A (xkit.js's
/// `login()`) gives a fresh context token on B.
#[tokio::test]
async fn a_context_token_and_a_session_made_on_one_node_work_on_the_other() {
    let nodes = Nodes::start(&shared_server(), |config| config).await;
    let (status, created) = nodes.post(0, "/context", json!({"context": {"external_id": "u1"}})).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let token = created["access_token"].as_str().unwrap();

    let session = |node: usize| nodes.http.get(format!("{}/api/platform_user/session", nodes.base(node)));
    let (status, body) = send(session(1).bearer_auth(token)).await;
    assert_eq!(status, StatusCode::OK, "a token minted on A, on B: {body}");
    assert_eq!(body["context"]["external_id"], "u1", "{body}");

    let login = nodes.http.post(format!("{}/api/platform_user/sessions", nodes.base(0))).bearer_auth(token);
    let logged_in = login.send().await.unwrap();
    assert_eq!(logged_in.status(), StatusCode::OK);
    let cookie = logged_in.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let resumed =
        nodes.http.post(format!("{}/api/platform_user/sessions/token", nodes.base(1))).header(COOKIE, &cookie);
    let (status, body) = send(resumed).await;
    assert_eq!(status, StatusCode::OK, "a session made on A, on B: {body}");
    let fresh = body["access_token"].as_str().unwrap();
    let (status, body) = send(session(0).bearer_auth(fresh)).await;
    assert_eq!(status, StatusCode::OK, "B's fresh token, back on A: {body}");
    nodes.shutdown().await;
}

/// The catalog's repair of a broken demo connection: the repair link minted and the flow
/// started on A, the consent on A's sandbox, the callback on B; A then reads it active.
#[tokio::test]
async fn a_repair_flow_started_on_one_node_completes_on_the_other() {
    let nodes = Nodes::start(&shared_server(), |config| ServerConfig { demo: true, ..config }).await;
    let (context, slug, id) = ("org_initech", "zendesk", "bbb68a85-6d66-4778-b9fc-0fb531993484");
    let (_, broken) = nodes.get(0, &format!("/connections/{id}")).await;
    assert_eq!(broken["connection"]["authorization"]["status"], "error", "the demo's broken Zendesk: {broken}");

    let (status, link) = nodes.post(0, &format!("/contexts/{context}/connections/{slug}/repair_link"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let token = query_value(&url::Url::parse(link["url"].as_str().unwrap()).unwrap(), "token").unwrap();
    let browser = browser();
    let started = page_post(&browser, format!("{}/connectors/{slug}/authorize", nodes.base(0)))
        .form(&[("token", token.as_str()), ("connection_id", id)])
        .send()
        .await
        .unwrap();
    let consent = location(&started).expect("to the sandbox's consent");
    let mut form: Vec<(String, String)> = consent.query_pairs().into_owned().collect();
    form.extend([("subject".into(), context.into()), ("decision".into(), "approve".into())]);
    let approved =
        page_post(&browser, format!("{}/sandbox/oauth/authorize", nodes.base(0))).form(&form).send().await.unwrap();
    let mut callback = location(&approved).expect("back to the catalog's callback");
    assert!(callback.path().ends_with("/catalog/oauth/callback"), "{callback}");
    // The browser comes back through another node (cookies are per host, not per port).
    callback.set_port(Some(nodes.b.addr.port())).unwrap();
    let landed = browser.get(callback).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::OK, "{}", landed.text().await.unwrap());

    let (_, repaired) = nodes.get(0, &format!("/connections/{id}")).await;
    let authorization = &repaired["connection"]["authorization"];
    assert_eq!(authorization["status"], "active", "{repaired}");
    assert!(authorization["credential"].as_str().is_some_and(|token| token.starts_with("sbx_at_")), "{repaired}");
    nodes.shutdown().await;
}

/// `keys revoke --database` (the real command): both nodes, which knew the key a moment ago,
/// refuse it within a second.
#[tokio::test]
async fn a_key_revoked_with_the_command_is_refused_by_both_nodes_within_a_second() {
    let nodes = Nodes::start(&shared_server(), |config| config).await;
    for node in 0..2 {
        assert_eq!(nodes.get(node, "/contexts?limit=1").await.0, StatusCode::OK, "node {node} knows the key");
    }
    let home = Home::new();
    let publishable = nodes.keys.publishable_key.clone();
    let mut revoke = home.command(&["keys", "revoke", &publishable, "--database", &nodes.database]);
    let output = tokio::task::spawn_blocking(move || revoke.output()).await.unwrap().unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let revoked = Instant::now();

    let refused = eventually(Duration::from_secs(3), async || {
        let (a, b) = tokio::join!(nodes.get(0, "/contexts?limit=1"), nodes.get(1, "/contexts?limit=1"));
        a.0 == StatusCode::UNAUTHORIZED && b.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    let took = revoked.elapsed();
    assert!(refused, "both nodes refuse the revoked key");
    assert!(took <= Duration::from_secs(1), "refused by both within a second, took {took:?}");
    nodes.shutdown().await;
}

// ---- coordination ---------------------------------------------------------------------------

/// Twenty concurrent reads of one expired connection, ten on each node: one token request at
/// the provider, and every read gets the new token.
#[tokio::test]
async fn twenty_reads_of_an_expired_connection_over_two_nodes_make_one_token_request() {
    let provider = HostileServer::start(|_| {
        std::thread::sleep(Duration::from_millis(300));
        Answer::Json(200, FRESH_TOKENS.into())
    });
    let (_seed_dir, seed_path) = Nodes::seed_file(&seed(&provider.url, &["crm"], "now-1m", "now-2h"));
    let nodes = Nodes::start(&shared_server(), |config| ServerConfig { seed: Some(seed_path.clone()), ..config }).await;
    let reads = (0..20).map(|index| nodes.get(index, "/contexts/u1/connections/crm"));
    for (status, body) in futures::future::join_all(reads).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["connection"]["authorization"]["access_token"], "new", "{body}");
    }
    assert_eq!(provider.count("/crm/token"), 1, "one token request between the two nodes");
    assert_eq!(nodes.refreshes_counted(1).await, 1, "one refresh saved");
    nodes.shutdown().await;
}

/// The provider down: a read on A fails transiently and records when to try again; reads on B
/// before that time leave the provider alone (one token request in all), as A's own do.
#[tokio::test]
async fn a_provider_failure_on_one_node_holds_the_other_nodes_refreshes_back() {
    let provider = HostileServer::start(|_| Answer::Json(503, r#"{"error": "temporarily_unavailable"}"#.into()));
    let (_seed_dir, seed_path) = Nodes::seed_file(&seed(&provider.url, &["crm"], "now-1m", "now-2h"));
    let nodes = Nodes::start(&shared_server(), |config| ServerConfig { seed: Some(seed_path.clone()), ..config }).await;
    let (status, body) = nodes.get(0, "/contexts/u1/connections/crm").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["connection"]["authorization"]["refresh_error"].is_string(), "a transient failure: {body}");
    assert_eq!(provider.count("/crm/token"), 1);
    for node in [1, 1, 0, 1] {
        let (status, body) = nodes.get(node, "/contexts/u1/connections/crm").await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    assert_eq!(provider.count("/crm/token"), 1, "no node asks again before the recorded retry time");
    nodes.shutdown().await;
}

/// The scheduler runs on both nodes: each of six due connections is refreshed once (one token
/// request each, six refreshes counted; a refresh has no event of its own, only a count).
#[tokio::test]
async fn with_the_scheduler_on_both_nodes_each_due_connection_is_refreshed_once() {
    let provider = HostileServer::start(|_| {
        std::thread::sleep(Duration::from_millis(100));
        Answer::Json(200, FRESH_TOKENS.into())
    });
    let slugs = ["s1", "s2", "s3", "s4", "s5", "s6"];
    let (_seed_dir, seed_path) = Nodes::seed_file(&seed(&provider.url, &slugs, "now-1m", "now-2h"));
    let ticking = SchedulerSettings { interval: Duration::from_millis(100), ..SchedulerSettings::default() };
    let nodes = Nodes::start(&shared_server(), |config| ServerConfig {
        seed: Some(seed_path.clone()),
        scheduler: Some(ticking),
        ..config
    })
    .await;

    let token_requests = || slugs.iter().map(|slug| provider.count(&format!("/{slug}/token"))).collect::<Vec<_>>();
    let all_refreshed = eventually(Duration::from_secs(15), async || {
        token_requests().iter().all(|count| *count > 0) && nodes.refreshes_counted(0).await >= slugs.len() as u64
    })
    .await;
    assert!(all_refreshed, "every due connection refreshed within 15 s: {:?}", token_requests());
    // Many more ticks of both schedulers: nothing is refreshed twice.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(token_requests(), vec![1; slugs.len()], "one token request per connection");
    assert_eq!(nodes.refreshes_counted(1).await, slugs.len() as u64, "one saved refresh per connection");
    let (_, listed) = nodes.get(1, "/connections?limit=10").await;
    for connection in listed["connections"].as_array().unwrap() {
        let expires_at = connection["authorization"]["expires_at"].as_str().unwrap();
        let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at).unwrap().to_utc();
        assert!(expires_at > chrono::Utc::now() + chrono::Duration::minutes(50), "refreshed: {connection}");
    }
    nodes.shutdown().await;
}

/// An event written on A wakes a long-poll waiting on B within 2 s (LISTEN/NOTIFY).
#[tokio::test]
async fn a_write_on_one_node_wakes_a_long_poll_on_the_other_within_two_seconds() {
    let nodes = Nodes::start(&shared_server(), |config| config).await;
    nodes.assert_a_write_on_a_wakes_a_long_poll_on_b().await;
    nodes.shutdown().await;
}

impl Nodes {
    /// A context created on A reaches a long-poll waiting on B within 2 s.
    pub async fn assert_a_write_on_a_wakes_a_long_poll_on_b(&self) {
        let cursor = self.newest_cursor(1).await;
        let path = format!("/events?after={cursor}&wait=20s");
        let waiting = self.get(1, &path);
        let write = async {
            // Long enough for B's request to be waiting.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let (status, body) = self.post(0, "/context", json!({"context": {"external_id": "woken"}})).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            Instant::now()
        };
        let ((status, body), written) = tokio::join!(waiting, write);
        let woken = written.elapsed();
        assert_eq!(status, StatusCode::OK, "{body}");
        let events = body["events"].as_array().unwrap();
        assert!(events.iter().any(|event| event["context"] == "woken"), "{body}");
        assert!(woken < Duration::from_secs(2), "B answered {woken:?} after A's write");
    }
}

/// One endpoint, both nodes' workers draining its outbox, contexts created on both nodes at
/// once: each event delivered exactly once (none twice, none missing), in the order of the
/// event history.
#[tokio::test]
async fn both_nodes_workers_deliver_each_event_once_and_in_order() {
    let receiver = webhook_receiver().await;
    let nodes = Nodes::start(&shared_server(), |config| config).await;
    let (status, body) = nodes.post(0, "/webhooks", json!({"url": receiver.url, "events": ["context.created"]})).await;
    assert!(status.is_success(), "{body}");

    let per_node = 15;
    let nodes = &nodes;
    let creates = |node: usize| async move {
        for index in 0..per_node {
            let context = json!({"context": {"external_id": format!("n{node}-{index}")}});
            let (status, body) = nodes.post(node, "/context", context).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    tokio::join!(creates(0), creates(1));
    let expected: Vec<String> = nodes
        .events(0, "type=context.created")
        .await
        .iter()
        .map(|event| event["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(expected.len(), 2 * per_node);

    let all = eventually(Duration::from_secs(15), async || receiver.event_ids().len() >= expected.len()).await;
    assert!(all, "{} deliveries of {} within 15 s", receiver.event_ids().len(), expected.len());
    // Both workers keep polling meanwhile: a second delivery would arrive now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.event_ids(), expected, "each event once, in the history's order");
}

/// A webhook receiver on 127.0.0.1 recording the `Xkit-Event-Id` of each request (answers 200).
pub struct WebhookReceiver {
    pub url: String,
    ids: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl WebhookReceiver {
    pub fn event_ids(&self) -> Vec<String> {
        self.ids.lock().unwrap().clone()
    }
}

pub async fn webhook_receiver() -> WebhookReceiver {
    let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = ids.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let recorded = recorded.clone();
            async move {
                let id = headers.get("xkit-event-id").and_then(|value| value.to_str().ok()).unwrap_or_default();
                recorded.lock().unwrap().push(id.to_owned());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    WebhookReceiver { url: format!("http://{addr}/hook"), ids }
}

/// Ordinary changes of one context on both nodes at once (context upserts and renames, client
/// API connects and removals, forced refreshes through the demo's sandbox): none meets another
/// node's transaction in a deadlock (a 503 `Busy`) or fails otherwise.
#[tokio::test]
async fn ordinary_changes_of_one_context_on_both_nodes_at_once_never_fail() {
    let nodes = Nodes::start(&shared_server(), |config| ServerConfig { demo: true, ..config }).await;
    let nodes = &nodes;
    let context = "org_acme";
    // The demo's Jira connection of Acme, whose sandbox grant refreshes.
    let jira = "a38b0616-055d-4180-b0c2-e611bcf0427b";
    let worker = |node: usize| async move {
        let mut answers = Vec::new();
        for round in 0..8 {
            let upsert = json!({"context": {"external_id": context}});
            let (status, created) = nodes.post(node, "/context", upsert).await;
            answers.push(("upsert", status, created.clone()));
            let Some(token) = created["access_token"].as_str() else { continue };
            let user = |method: Method, path: &str| {
                nodes.http.request(method, format!("{}/api/platform_user{path}", nodes.base(node))).bearer_auth(token)
            };
            let (status, connected) = send(user(Method::POST, "/connections/slack").json(&json!({}))).await;
            answers.push(("connect", status, connected.clone()));
            let rename = json!({"context": {"external_id": context, "external_name": format!("Acme {node}-{round}")}});
            let renamed = send(nodes.request(node, Method::PATCH, &format!("/contexts/{context}")).json(&rename)).await;
            answers.push(("rename", renamed.0, renamed.1));
            let refresh = nodes.post(node, &format!("/connections/{jira}/refresh"), json!({})).await;
            answers.push(("refresh", refresh.0, refresh.1));
            if let Some(id) = connected["connection"]["id"].as_str() {
                let removed = send(user(Method::DELETE, &format!("/connection/{id}"))).await;
                answers.push(("remove", removed.0, removed.1));
            }
        }
        answers
    };
    let (on_a, on_b) = tokio::join!(worker(0), worker(1));
    let failed: Vec<_> = on_a.iter().chain(&on_b).filter(|(_, status, _)| !status.is_success()).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(on_a.len() + on_b.len(), 2 * 8 * 5, "every step of every round answered");
}
