//! Signed webhooks over real HTTP: a receiver in the test (axum on 127.0.0.1) checks every
//! signature with its own HMAC code; order per endpoint, at-least-once delivery across a
//! `kill -9` of the real server, retries and disabling on a failing receiver, SSRF refusals,
//! the API routes and the `webhooks` commands.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{Hmac, Mac as _};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use xkit_dash::server::webhooks::WebhookSettings;
use xkit_dash::server::{ServerConfig, create_key_pair_at, start};

use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::hostile::{Answer, HostileServer};
use crate::support::server::{ServedPlatform, TestPlatform, send, two_connections_one_with_a_provider};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    headers: HeaderMap,
    body: String,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|value| value.to_str().ok()).unwrap_or_default()
    }
}

/// What the receiver answers to its `n`-th request (0-based).
#[derive(Debug, Clone, Copy)]
enum Reply {
    Status(u16),
    /// Take the request and never answer.
    Hold,
}

/// A webhook receiver on 127.0.0.1 that records every request.
struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start(reply: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = seen.clone();
        let reply = Arc::new(reply);
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let recorded = recorded.clone();
                let reply = reply.clone();
                async move {
                    let index = {
                        let mut seen = recorded.lock().unwrap();
                        seen.push(Received {
                            headers,
                            body: String::from_utf8(body.to_vec()).unwrap(),
                            at: Instant::now(),
                        });
                        seen.len() - 1
                    };
                    match reply(index) {
                        Reply::Status(code) => StatusCode::from_u16(code).unwrap(),
                        Reply::Hold => std::future::pending().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url: format!("http://{addr}/hook"), seen }
    }

    fn received(&self) -> Vec<Received> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits (at most `within`) until `count` requests arrived; all of them.
    async fn wait_for(&self, count: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(Instant::now() < deadline, "{count} requests expected within {within:?}, got {}", received.len());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Checks `Xkit-Signature` as a receiver would, with its own HMAC: the signed value is
/// `"<t>.<body>"`, the key the whole secret, and `t` is now (within 5 minutes).
fn assert_signed(received: &Received, secret: &str) {
    let header = received.header("xkit-signature");
    let (mut timestamp, mut signature) = (None, None);
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.to_owned()),
            Some(("v1", value)) => signature = Some(value.to_owned()),
            _ => {}
        }
    }
    let (timestamp, signature) = (timestamp.expect("t="), signature.expect("v1="));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{}", received.body).as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(signature, expected, "signature of {}", received.body);
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    assert!(age.abs() < 300, "a fresh timestamp: {age} s");
}

/// Registers `url` through the API; the webhook and its secret.
async fn add(platform: &TestPlatform, url: &str, events: Option<&[&str]>) -> (Value, String) {
    let (status, body) = platform.post("/webhooks", json!({"url": url, "events": events})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = body["secret"].as_str().expect("the secret, once").to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    (body["webhook"].clone(), secret)
}

async fn webhook_state(platform: &TestPlatform, id: &str) -> Value {
    let (status, body) = platform.get("/webhooks").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["webhooks"].as_array().unwrap().iter().find(|webhook| webhook["id"] == id).cloned().unwrap_or(Value::Null)
}

/// Every change reaches the endpoint as a signed POST with Xkit's body and headers, in the
/// order of the events, only the types asked for; the payload carries the connection's status
/// and error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_are_signed_in_event_order_with_the_documented_body() {
    let provider = HostileServer::start(|_| {
        Answer::Json(400, r#"{"error": "invalid_grant", "error_description": "revoked by the user"}"#.into())
    });
    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider(&provider.url)).await;
    let receiver = Receiver::start(|_| Reply::Status(204)).await;
    let (webhook, secret) =
        add(&platform, &receiver.url, Some(&["context.created", "connection.disabled", "connection.error"])).await;
    assert_eq!(webhook["events"], json!(["context.created", "connection.disabled", "connection.error"]));

    for index in 0..5 {
        let (status, body) = platform.create_context(json!({"external_id": format!("ctx-{index}")})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = send(platform.request(Method::DELETE, "/contexts/u1/connections/crm")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = platform.post("/connections/c2/refresh", json!({})).await;
    assert!(status.is_success(), "{status} {body}");

    let received = receiver.wait_for(7, Duration::from_secs(10)).await;
    let (_, events) = platform.get("/events?type=").await;
    let expected: Vec<&Value> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| {
            ["context.created", "connection.disabled", "connection.error"]
                .contains(&event["event_type"].as_str().unwrap())
        })
        .filter(|event| event["context"] != "u1" || event["event_type"] != "context.created")
        .collect();
    assert_eq!(
        received.iter().map(|request| request.json()["id"].clone()).collect::<Vec<_>>(),
        expected.iter().map(|event| event["id"].clone()).collect::<Vec<_>>(),
        "every event asked for, once, in order"
    );
    for request in &received {
        assert_signed(request, &secret);
        let body = request.json();
        let mut keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["event_type", "id", "occurred_at", "payload"]);
        assert_eq!(request.header("xkit-event-id"), body["id"]);
        assert_eq!(request.header("xkit-webhook-id"), webhook["id"]);
        assert_eq!(request.header("content-type"), "application/json");
        assert!(request.header("user-agent").starts_with("xkit-dash-webhooks/"));
    }
    let bodies: Vec<Value> = received.iter().map(Received::json).collect();
    assert_eq!(bodies[0]["payload"], json!({"context": {"external_id": "ctx-0"}}));
    assert_eq!(bodies[5]["event_type"], "connection.disabled");
    assert_eq!(
        bodies[5]["payload"],
        json!({"connector": {"slug": "crm"}, "context": {"external_id": "u1"}, "connection": {"external_id": "c1"},
               "status": "active"})
    );
    assert_eq!(bodies[6]["event_type"], "connection.error");
    assert_eq!(bodies[6]["payload"]["status"], "error");
    assert_eq!(bodies[6]["payload"]["error_code"], "invalid_grant");
    assert_eq!(bodies[6]["payload"]["error_message"], "revoked by the user");

    // Each delivery is recorded once (just after its answer), delivered, and the queue is empty.
    let deadline = Instant::now() + Duration::from_secs(5);
    let body = loop {
        let path = format!("/webhooks/deliveries?webhook={}", webhook["id"].as_str().unwrap());
        let (status, body) = platform.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if body["deliveries"].as_array().unwrap().len() >= 7 || Instant::now() >= deadline {
            break body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let attempts = body["deliveries"].as_array().unwrap();
    assert_eq!(attempts.len(), 7, "{body}");
    assert!(attempts.iter().all(|attempt| attempt["delivered"] == true && attempt["status_code"] == 204));
    assert_eq!(webhook_state(&platform, webhook["id"].as_str().unwrap()).await["pending"], 0);
    platform.server.shutdown().await;
}

/// The receiver holds the first delivery open; the server is killed (`kill -9`) meanwhile and
/// started again: the same event arrives again, same id and body, signed, once the killed
/// worker's claim on it has run out (its lease: the 10 s request timeout and 2 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_in_flight_when_the_server_is_killed_is_sent_again_after_restart() {
    let platform = ServedPlatform::new().await;
    let receiver = Receiver::start(|index| if index == 0 { Reply::Hold } else { Reply::Status(200) }).await;
    let server = platform.serve(&[]);
    let home = Home::new();
    let output = home
        .command(&["webhooks", "add", &receiver.url, "--events", "context.created", "--json"])
        .args(platform.platform_args())
        .output()
        .unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let added: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let secret = added["secret"].as_str().unwrap().to_owned();

    let keys = create_key_pair_at(&platform.location()).await.unwrap();
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/platform/context", server.base_url))
        .basic_auth(&keys.publishable_key, Some(secrecy::ExposeSecret::expose_secret(&keys.secret_key)))
        .json(&json!({"context": {"external_id": "u1"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);

    let held = receiver.wait_for(1, Duration::from_secs(10)).await.remove(0);
    assert_eq!(held.json()["event_type"], "context.created");
    server.kill();

    let restarted = platform.serve(&[]);
    let again = receiver.wait_for(2, Duration::from_secs(20)).await.remove(1);
    assert_eq!(again.header("xkit-event-id"), held.header("xkit-event-id"), "the same event");
    assert_eq!(again.body, held.body, "the same bytes");
    assert_signed(&held, &secret);
    assert_signed(&again, &secret);

    // Delivered now: recorded, and not sent a third time.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let output =
            home.command(&["webhooks", "deliveries", "--json"]).args(platform.platform_args()).output().unwrap();
        assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
        if stdout(&output).contains("\"delivered\":true") {
            break;
        }
        assert!(Instant::now() < deadline, "the delivery is recorded: {}", stdout(&output));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2);
    drop(restarted);
}

/// A receiver that always fails gets retries with growing gaps (never a redirect followed);
/// after `--webhook-disable-after` the endpoint is disabled with a `webhook.disabled` event and
/// gets nothing more until enabled again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_gets_growing_retries_then_the_endpoint_is_disabled() {
    let disable_after = Duration::from_secs(3);
    let platform = TestPlatform::with(|config| ServerConfig {
        webhooks: WebhookSettings { disable_after, ..WebhookSettings::default() },
        ..config
    })
    .await;
    let receiver = Receiver::start(|_| Reply::Status(500)).await;
    let (webhook, secret) = add(&platform, &receiver.url, Some(&["context.created"])).await;
    let id = webhook["id"].as_str().unwrap();
    let started = Instant::now();
    platform.create_context(json!({"external_id": "u1"})).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while webhook_state(&platform, id).await["enabled"] != false {
        assert!(Instant::now() < deadline, "disabled within 20 s: {}", webhook_state(&platform, id).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let disabled_at = started.elapsed();
    assert!(disabled_at >= disable_after, "not before --webhook-disable-after: {disabled_at:?}");
    let received = receiver.received();
    assert!(received.len() >= 3, "retried: {} attempts", received.len());
    assert!(received.iter().all(|request| request.header("xkit-event-id") == received[0].header("xkit-event-id")));
    received.iter().for_each(|request| assert_signed(request, &secret));
    let gaps: Vec<Duration> = received.windows(2).map(|pair| pair[1].at - pair[0].at).collect();
    assert!(gaps[0] >= Duration::from_millis(700), "backoff from about 1 s: {gaps:?}");
    assert!(gaps.windows(2).all(|pair| pair[1] > pair[0]), "growing gaps: {gaps:?}");
    assert_eq!(
        received.iter().map(|request| request.header("xkit-delivery-attempt").to_owned()).collect::<Vec<_>>(),
        (1..=received.len()).map(|attempt| attempt.to_string()).collect::<Vec<_>>()
    );

    let state = webhook_state(&platform, id).await;
    assert!(state["disabled_reason"].as_str().unwrap().contains("HTTP 500"), "{state}");
    assert_eq!(state["pending"], 0, "the queue is dropped: {state}");
    let (_, events) = platform.get("/events?type=webhook.disabled").await;
    assert_eq!(events["events"][0]["payload"]["webhook"]["id"], id, "{events}");
    let (_, body) = platform.get(&format!("/webhooks/deliveries?webhook={id}")).await;
    let attempts = body["deliveries"].as_array().unwrap();
    assert_eq!(attempts.len(), received.len());
    assert!(attempts.iter().all(|attempt| attempt["status_code"] == 500 && attempt["delivered"] == false));

    // Disabled: nothing more, and no test either, until enabled.
    platform.create_context(json!({"external_id": "u2"})).await;
    let (status, _) = platform.post(&format!("/webhooks/{id}/test"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), received.len());
    let (status, body) = platform.post(&format!("/webhooks/{id}/enable"), json!({})).await;
    assert_eq!((status, body["webhook"]["enabled"].clone()), (StatusCode::OK, json!(true)), "{body}");
    platform.server.shutdown().await;
}

/// A 3xx is a failed attempt: the redirect is not followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_is_a_failure_and_is_never_followed() {
    let elsewhere = Receiver::start(|_| Reply::Status(200)).await;
    let location = elsewhere.url.clone();
    let redirecting = HostileServer::start(move |_| Answer::Redirect(307, location.clone()));
    let platform = TestPlatform::empty().await;
    let (webhook, _) = add(&platform, &format!("{}/hook", redirecting.url), Some(&["context.created"])).await;
    let (status, body) = platform.post(&format!("/webhooks/{}/test", webhook["id"].as_str().unwrap()), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["delivery"]["status_code"], 307, "{body}");
    assert_eq!(body["delivery"]["delivered"], false);
    assert_eq!(body["delivery"]["event_type"], "webhook.test");
    assert!(elsewhere.received().is_empty(), "the redirect was followed");
    platform.server.shutdown().await;
}

/// Only http(s); no loopback, private or link-local target when the server listens elsewhere
/// than loopback, neither when added nor (DNS may change) when delivered; all of them with
/// `--allow-private-webhooks`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssrf_targets_are_refused_when_added_and_when_delivered() {
    let receiver = Receiver::start(|_| Reply::Status(200)).await;
    // The platform is served again below with other settings: no node may keep the old ones.
    let platform = TestPlatform::empty().await.single_node().await;
    for url in ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "https://user:pw@example.com/"] {
        let (status, body) = platform.post("/webhooks", json!({"url": url})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    }
    let (status, body) =
        platform.post("/webhooks", json!({"url": "http://127.0.0.1:9/", "events": ["connection.eror"]})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["error"].as_str().unwrap().contains("connection.error"), "the known types are listed: {body}");
    // On loopback, local receivers are fine: one by address, one by name (resolved at delivery).
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let (literal, _) = add(&platform, &receiver.url, Some(&["context.created"])).await;
    let (named, _) = add(&platform, &by_name, Some(&["context.created"])).await;
    let same_platform = platform.config();
    let platform_args = platform.platform_args();
    let _dir = platform.dir;
    platform.server.shutdown().await;

    // The same platform served on every interface: private targets are refused.
    let everywhere = |allow_private| ServerConfig {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        webhooks: WebhookSettings { allow_private, ..WebhookSettings::default() },
        ..same_platform.clone()
    };
    let server = start(everywhere(false)).await.unwrap();
    let keys = create_key_pair_at(&same_platform.location()).await.unwrap();
    let base = format!("http://127.0.0.1:{}/api/platform", server.addr.port());
    let http = reqwest::Client::new();
    let request = |method: Method, path: &str| {
        http.request(method, format!("{base}{path}"))
            .basic_auth(&keys.publishable_key, Some(secrecy::ExposeSecret::expose_secret(&keys.secret_key)))
    };
    for (url, kind) in [
        ("http://127.0.0.1:9/", "loopback"),
        ("http://localhost:9/", "loopback"),
        ("http://10.1.2.3/", "private"),
        ("http://192.168.0.10/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://100.64.0.1/", "CGNAT"),
        ("http://[::1]:9/", "loopback"),
        ("http://[fd00::1]/", "unique-local"),
        ("http://0.0.0.0:9/", "unspecified"),
    ] {
        let (status, body) = send(request(Method::POST, "/webhooks").json(&json!({"url": url}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(kind) && message.contains("--allow-private-webhooks"), "{url}: {message}");
    }
    // Both endpoints added under loopback are refused at delivery.
    let (status, _) = send(request(Method::POST, "/context").json(&json!({"context": {"external_id": "u1"}}))).await;
    assert_eq!(status, StatusCode::OK);
    for webhook in [&literal, &named] {
        let id = webhook["id"].as_str().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let attempt = loop {
            let (_, body) = send(request(Method::GET, &format!("/webhooks/deliveries?webhook={id}"))).await;
            if let Some(attempt) = body["deliveries"].as_array().and_then(|attempts| attempts.first()).cloned() {
                break attempt;
            }
            assert!(Instant::now() < deadline, "an attempt is recorded for {id}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(attempt["delivered"], false, "{attempt}");
        assert!(attempt["error"].as_str().unwrap().contains("loopback"), "{attempt}");
    }
    assert!(receiver.received().is_empty(), "no request reached the private receiver");

    // The command line follows the rule of the server that last started there.
    let home = Home::new();
    let output = home.command(&["webhooks", "add", "http://10.0.0.7/hook"]).args(&platform_args).output().unwrap();
    assert_eq!(exit_code(&output), 3, "{}", stderr(&output));
    assert!(stderr(&output).contains("private address"), "{}", stderr(&output));
    let output = home.command(&["webhooks", "add", "file:///etc/passwd"]).args(&platform_args).output().unwrap();
    assert_eq!(exit_code(&output), 3, "{}", stderr(&output));
    server.shutdown().await;

    // With --allow-private-webhooks, the queued deliveries go out.
    let server = start(everywhere(true)).await.unwrap();
    receiver.wait_for(2, Duration::from_secs(15)).await;
    server.shutdown().await;
}

/// The `webhooks` commands on a running server's data directory: add (secret shown once),
/// list (never the secret), test (delivered, exit 0), deliveries, remove.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhooks_commands_manage_endpoints_of_a_running_server() {
    let platform = ServedPlatform::new().await;
    let receiver = Receiver::start(|_| Reply::Status(200)).await;
    let server = platform.serve(&[]);
    let home = Home::new();
    let run = |args: &[&str]| {
        let mut all = vec!["webhooks"];
        all.extend_from_slice(args);
        home.command(&all).args(platform.platform_args()).output().unwrap()
    };

    let added = run(&["add", &receiver.url, "--events", "connection.error,connection.recovered"]);
    assert_eq!(exit_code(&added), 0, "{}", stderr(&added));
    let text = stdout(&added);
    let secret = text.lines().find_map(|line| line.strip_prefix("signing secret: ")).expect("the secret").to_owned();
    let id = text.split_whitespace().nth(1).unwrap().to_owned();

    let listed = run(&["list"]);
    assert_eq!(exit_code(&listed), 0);
    assert!(stdout(&listed).contains(&id) && stdout(&listed).contains("connection.error,connection.recovered"));
    let listed_json = run(&["list", "--json"]);
    let webhook: Value = serde_json::from_str(stdout(&listed_json).lines().next().unwrap()).unwrap();
    assert_eq!((webhook["id"].as_str(), webhook["enabled"].as_bool()), (Some(id.as_str()), Some(true)));
    for output in [&listed, &listed_json] {
        assert!(!stdout(output).contains(&secret) && !stderr(output).contains(&secret), "never listed again");
    }

    let tested = run(&["test", &id]);
    assert_eq!(exit_code(&tested), 0, "{}", stderr(&tested));
    assert!(stdout(&tested).contains("delivered") && stdout(&tested).contains("HTTP 200"), "{}", stdout(&tested));
    let received = receiver.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(received.len(), 1, "only the test event, not the endpoint's own creation");
    assert_eq!(received[0].json()["event_type"], "webhook.test");
    assert_signed(&received[0], &secret);
    assert!(!server.stderr().contains(&secret), "the secret is never logged");

    let deliveries = run(&["deliveries", &id, "--json"]);
    let attempt: Value = serde_json::from_str(stdout(&deliveries).lines().next().unwrap()).unwrap();
    assert_eq!((attempt["event_type"].as_str(), attempt["status_code"].as_u64()), (Some("webhook.test"), Some(200)));

    let removed = run(&["remove", &id]);
    assert_eq!(exit_code(&removed), 0, "{}", stderr(&removed));
    let again = run(&["remove", &id]);
    assert_eq!(exit_code(&again), 2, "an unknown endpoint: {}", stderr(&again));
    let test_removed = run(&["test", &id]);
    assert_eq!(exit_code(&test_removed), 2);
    drop(server);
}

/// A bulk import (10,000 connections or more: `serve --demo-scale`, large seed files) is one
/// change with one event, `platform.imported` with its counts: one webhook, one entry in the
/// history, and no `connection.created`, `context.created` or `connection.error` per row (nor
/// an error spike in the 24-hour history for the connections imported in error).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_is_one_platform_imported_event_and_one_webhook() {
    const CONNECTIONS: usize = 10_000;
    let platform = TestPlatform::empty().await;
    let receiver = Receiver::start(|_| Reply::Status(204)).await;
    add(&platform, &receiver.url, None).await;
    let (_, before) = platform.get("/events?limit=1000").await;
    let cursor = before["next_cursor"].as_str().unwrap().to_owned();

    // Written by another store on the same database, as `serve --demo-scale` on a data directory does.
    let report = xkit_dash::server::scale::seed_at(&platform.location(), CONNECTIONS).await.unwrap();
    assert_eq!(report.connections_added, CONNECTIONS);

    let (status, body) = platform.get(&format!("/events?after={cursor}&limit=1000")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let types: Vec<&str> =
        body["events"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, ["platform.imported"], "{body}");
    let payload = &body["events"][0]["payload"];
    assert_eq!(payload["connections_added"], CONNECTIONS);
    assert_eq!(payload["contexts_added"], xkit_dash::server::scale::context_count(CONNECTIONS));

    // The endpoint's own `webhook.created`, then the import.
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    let types: Vec<Value> = received.iter().map(|request| request.json()["event_type"].clone()).collect();
    assert_eq!(types, ["webhook.created", "platform.imported"]);
    assert_eq!(received[1].json()["payload"]["connections_added"], CONNECTIONS);
    // The worker drains its queue within a second: nothing else was queued.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.received().len(), 2, "one webhook for the whole import");

    let (status, history) = platform.get("/stats/history?since=1h&bucket=1h").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let errors: u64 =
        history["buckets"].as_array().unwrap().iter().map(|bucket| bucket["errors"].as_u64().unwrap_or(0)).sum();
    assert_eq!(errors, 0, "imported states are not breakages: {history}");
    let (_, stats) = platform.get("/stats").await;
    assert_eq!(stats["connections"], CONNECTIONS, "the counters still count every imported row");

    // Seeding again adds nothing, so it is no change and has no event.
    let report = xkit_dash::server::scale::seed_at(&platform.location(), CONNECTIONS).await.unwrap();
    assert_eq!((report.contexts_added, report.connections_added), (0, 0));
    let (_, body) = platform.get(&format!("/events?after={cursor}&limit=1000")).await;
    assert_eq!(body["events"].as_array().unwrap().len(), 1, "{body}");
    platform.server.shutdown().await;
}
