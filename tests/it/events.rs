//! The event history over real HTTP (`GET /api/platform/events`): one event per change, written
//! with it; keyset paging, filters, long-polling and retention.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::{Value, json};
use xkit_dash::server::ServerConfig;
use xkit_dash::server::event_retention::EventRetention;
use xkit_dash::server::seed;
use xkit_dash::server::store::{EventFilter, NewFlow, Store};

use crate::support::hostile::{Answer, HostileServer};
use crate::support::server::{TestPlatform, send, two_connections_one_with_a_provider};

/// Events after `after` (from the start with `""`) and the cursor that follows them.
async fn events_after(platform: &TestPlatform, after: &str, query: &str) -> (Vec<Value>, String) {
    let (status, body) = platform.get(&format!("/events?after={after}&{query}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let cursor = body["next_cursor"].as_str().expect("a cursor").to_owned();
    (body["events"].as_array().expect("events").clone(), cursor)
}

async fn delete(platform: &TestPlatform, path: &str) -> (StatusCode, Value) {
    send(platform.request(Method::DELETE, path)).await
}

fn kinds(events: &[Value]) -> Vec<(&str, &str)> {
    events
        .iter()
        .map(|event| (event["event_type"].as_str().unwrap(), event["connection"].as_str().unwrap_or("")))
        .collect()
}

#[tokio::test]
async fn each_connection_change_produces_exactly_its_event() {
    let provider = HostileServer::start(|_| {
        Answer::Json(400, r#"{"error": "invalid_grant", "error_description": "revoked by the user"}"#.into())
    });
    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider(&provider.url)).await;

    // The seed's import: its context and its connections, each created once.
    let (seeded, cursor) = events_after(&platform, "", "").await;
    let created: Vec<_> = seeded.iter().filter(|event| event["event_type"] != "key.created").collect();
    assert_eq!(
        created
            .iter()
            .map(|event| (event["event_type"].as_str().unwrap(), event["context"].as_str().unwrap()))
            .collect::<Vec<_>>(),
        [("context.created", "u1"), ("connection.created", "u1"), ("connection.created", "u1")],
        "{seeded:?}"
    );
    assert_eq!(
        created[1]["payload"],
        json!({"connector": {"slug": "crm"}, "context": {"external_id": "u1"}, "connection": {"external_id": "c1"}})
    );
    assert!(
        created
            .iter()
            .all(|event| event["id"].as_str().is_some_and(|id| !id.is_empty()) && event["occurred_at"].is_string())
    );

    // Disabling: exactly one event.
    let (status, body) = delete(&platform, "/contexts/u1/connections/crm").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (disabled, cursor) = events_after(&platform, &cursor, "").await;
    assert_eq!(kinds(&disabled), [("connection.disabled", "c1")]);
    assert_eq!(disabled[0]["actor"], platform.keys.publishable_key.as_str(), "the API key that made the change");
    assert!(created.iter().all(|event| event.get("actor").is_none()), "the startup import has no actor");

    // A permanent refresh failure: `connection.error` with the provider's words.
    let (status, body) = platform.post("/connections/c2/refresh", json!({})).await;
    assert!(status.is_success(), "{status} {body}");
    let (failed, cursor) = events_after(&platform, &cursor, "").await;
    assert_eq!(kinds(&failed), [("connection.error", "c2")]);
    assert_eq!(failed[0]["payload"]["error_code"], "invalid_grant");
    assert_eq!(failed[0]["payload"]["error_message"], "revoked by the user");
    assert_eq!(failed[0]["actor"], platform.keys.publishable_key.as_str());

    // A change that changes nothing (disabling again) has no event.
    delete(&platform, "/contexts/u1/connections/crm").await;
    assert!(events_after(&platform, &cursor, "").await.0.is_empty());
}

fn flow(state: &str) -> NewFlow {
    NewFlow {
        state: state.into(),
        pkce_verifier: SecretString::from("verifier"),
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        authorize_url: "http://127.0.0.1:9/authorize".into(),
        expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
    }
}

/// Reconnecting a removed connection enables it (one `connection.enabled`); the same write
/// failing at its last step (a repair link nobody minted) leaves neither the change nor its event.
#[tokio::test]
async fn a_rolled_back_change_leaves_no_event_and_a_committed_one_leaves_exactly_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
    store
        .import(seed::parse(&two_connections_one_with_a_provider("http://127.0.0.1:9"), "test seed").unwrap())
        .await
        .unwrap();
    store.disable_connection("u1".into(), "crm".into()).await.unwrap();
    let cursor = store.events(EventFilter::default(), None, 1000).await.unwrap().next_cursor;

    let refused = store.begin_authorization("u1".into(), "crm".into(), Some("c1".into()), flow("s1"), Some([7; 32]));
    assert!(refused.await.is_err(), "an unknown repair link fails the write after it enabled the connection");
    assert!(!store.connection_by_id("c1".into()).await.unwrap().enabled, "the change was rolled back");
    assert!(store.events(EventFilter::default(), Some(cursor.clone()), 1000).await.unwrap().events.is_empty());

    store.begin_authorization("u1".into(), "crm".into(), Some("c1".into()), flow("s2"), None).await.unwrap();
    let enabled = store.events(EventFilter::default(), Some(cursor), 1000).await.unwrap().events;
    assert_eq!(
        enabled.iter().map(|event| (event.event_type.as_str(), event.connection.as_deref())).collect::<Vec<_>>(),
        [("connection.enabled", Some("c1"))]
    );
}

#[tokio::test]
async fn paging_visits_each_event_once_and_filters_narrow() {
    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider("http://127.0.0.1:9")).await;
    for n in 0..23 {
        let (status, body) = platform.create_context(json!({"external_id": format!("p{n}")})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (everything, _) = events_after(&platform, "", "limit=1000").await;
    let mut paged = Vec::new();
    let mut cursor = String::new();
    for _ in 0..100 {
        let (page, next) = events_after(&platform, &cursor, "limit=7").await;
        assert!(page.len() <= 7);
        if page.is_empty() {
            assert_eq!(next, cursor, "an empty page keeps the cursor");
            break;
        }
        paged.extend(page);
        cursor = next;
    }
    assert_eq!(paged, everything, "each event once, in order");
    let ids: std::collections::HashSet<_> = paged.iter().map(|event| event["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), paged.len());

    let (one, _) = events_after(&platform, "", "type=context.created&context=p7").await;
    assert_eq!(one.len(), 1, "{one:?}");
    assert_eq!(one[0]["context"], "p7");
    let (contexts, _) = events_after(&platform, "", "type=context.created").await;
    assert_eq!(contexts.len(), 24);
    let (hr, _) = events_after(&platform, "", "connector=hr").await;
    assert_eq!(kinds(&hr), [("connection.created", "c2")]);
    let (c1, _) = events_after(&platform, "", "connection=c1").await;
    assert_eq!(kinds(&c1), [("connection.created", "c1")]);
    let (later, _) = events_after(&platform, "", "since=2999-01-01T00:00:00Z").await;
    assert!(later.is_empty());
    for bad in ["since=yesterday", "wait=forever", "after=not-a-cursor", "limit=0"] {
        let (status, body) = platform.get(&format!("/events?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"].is_string());
    }
}

#[tokio::test]
async fn a_long_poll_answers_as_soon_as_a_newer_event_exists() {
    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider("http://127.0.0.1:9")).await;
    let (_, cursor) = events_after(&platform, "", "").await;
    let waiting_path = format!("/events?after={cursor}&wait=20s");
    let waiting = platform.get(&waiting_path);
    let change = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let changed_at = Instant::now();
        platform.create_context(json!({"external_id": "late"})).await;
        changed_at
    };
    let ((status, body), changed_at) = tokio::join!(waiting, change);
    let answered_after_change = changed_at.elapsed();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["events"][0]["context"], "late", "{body}");
    assert!(answered_after_change < Duration::from_secs(1), "answered {answered_after_change:?} after the change");

    // Nothing newer: the wait ends at its deadline with an empty page.
    let started = Instant::now();
    let (_, cursor) = events_after(&platform, "", "").await;
    let (empty, same) = events_after(&platform, &cursor, "wait=1s").await;
    assert!(empty.is_empty() && same == cursor);
    assert!((Duration::from_millis(900)..Duration::from_secs(5)).contains(&started.elapsed()));
}

#[tokio::test]
async fn events_older_than_the_retention_are_pruned() {
    let retention = EventRetention { keep: Duration::from_secs(2), prune_every: Duration::from_millis(100) };
    let platform = TestPlatform::with(|config| ServerConfig { event_retention: retention, ..config }).await;
    platform.create_context(json!({"external_id": "old"})).await;
    let (fresh, _) = events_after(&platform, "", "type=context.created").await;
    assert_eq!(fresh.len(), 1, "a fresh event is kept");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (left, _) = events_after(&platform, "", "").await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "still there: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `xkit-dash events` through the real binary: NDJSON with `--json`, filters, text lines, usage
/// errors exit 3, and `--follow` streams an event made after it started.
#[tokio::test]
async fn the_cli_prints_events_as_ndjson_and_follows_new_ones() {
    use std::io::BufRead as _;

    use crate::support::cli::{Home, exit_code, stderr, stdout};

    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider("http://127.0.0.1:9")).await;
    let home = Home::new();
    let run = |args: &[&str]| {
        let mut command = home.against(&platform, args);
        tokio::task::spawn_blocking(move || command.output().unwrap())
    };

    let output = run(&["events", "--json"]).await.unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let lines: Vec<Value> = stdout(&output).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let (over_http, _) = events_after(&platform, "", "").await;
    assert_eq!(lines, over_http, "one JSON object per line, each event once");

    let output = run(&["events", "--type", "connection.created", "--since", "1h", "--json"]).await.unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output).lines().count(), 2, "{}", stdout(&output));

    let output = run(&["events", "--connector", "hr"]).await.unwrap();
    let text = stdout(&output);
    assert!(text.contains("connection.created") && text.contains("  u1  hr  c2  -\n"), "{text}");

    let output = run(&["events", "--since", "a while"]).await.unwrap();
    assert_eq!(exit_code(&output), 3, "a bad duration is a usage error");

    // A platform without the extension (Xkit itself): the target's failure, said plainly.
    let without = HostileServer::start(|_| Answer::Json(404, r#"{"error": "not found"}"#.into()));
    let mut command = home.pointed_at(&without.url, "pk", "sk", &["events"]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("event history"), "{}", stderr(&output));

    // A plain process (assert_cmd only runs to completion), set up as `Home` sets up the binary.
    let follower_home = tempfile::tempdir().unwrap();
    let mut follower = std::process::Command::new(env!("CARGO_BIN_EXE_xkit-dash"));
    for (name, _) in std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("XKIT_")) {
        follower.env_remove(name);
    }
    for variable in ["XKIT_DASH_CONFIG_DIR", "XKIT_DASH_DATA_DIR", "XKIT_DASH_STATE_DIR"] {
        follower.env(variable, follower_home.path());
    }
    let mut follower = follower
        .env("XKIT_API_URL", platform.server.base_url())
        .env("XKIT_PUBLISHABLE_KEY", &platform.keys.publishable_key)
        .env("XKIT_SECRET_KEY", platform.secret())
        // A request timeout under the server's longest wait: the follower must wait less.
        .args(["events", "--follow", "--json", "--type", "context.created", "--request-timeout", "1s"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    let reader = std::io::BufReader::new(follower.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in reader.lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = |lines_rx: std::sync::mpsc::Receiver<String>| {
        tokio::task::spawn_blocking(move || (lines_rx.recv_timeout(Duration::from_secs(10)), lines_rx))
    };
    let (first, lines_rx) = next_line(lines_rx).await.unwrap();
    let first: Value = serde_json::from_str(&first.expect("the existing event")).unwrap();
    assert_eq!(first["context"], "u1");
    // Several waits end empty (past the client's retries of a timed-out read); it keeps going.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(follower.try_wait().unwrap().is_none(), "still following");
    platform.create_context(json!({"external_id": "streamed"})).await;
    let (streamed, _) = next_line(lines_rx).await.unwrap();
    follower.kill().unwrap();
    follower.wait().unwrap();
    let streamed: Value = serde_json::from_str(&streamed.expect("the new event, streamed")).unwrap();
    assert_eq!(streamed["context"], "streamed");
}

/// A connection in error repaired through the catalog (the demo's sandbox provider): one
/// `connection.repaired`, by the catalog, and nothing for the steps of the flow in between.
#[tokio::test]
async fn a_repair_through_the_catalog_is_one_repaired_event() {
    let platform = TestPlatform::demo().await;
    let (_, failed) = platform.get("/connections?status=error&connector=slack&limit=1").await;
    let failed = &failed["connections"][0];
    let (id, context) = (failed["id"].as_str().unwrap(), failed["context"]["external_id"].as_str().unwrap());
    let (errors, cursor) = events_after(&platform, "", &format!("connection={id}")).await;
    assert_eq!(kinds(&errors), [("connection.created", id), ("connection.error", id)], "imported in error");

    platform.repair_through_the_catalog(context, "slack", id, "repairer").await;

    let (repaired, _) = events_after(&platform, &cursor, &format!("connection={id}")).await;
    assert_eq!(kinds(&repaired), [("connection.repaired", id)]);
    assert_eq!(repaired[0]["actor"], "catalog");
}

/// Routine successful refreshes are counted per hour and are not events.
#[tokio::test]
async fn successful_refreshes_are_counted_per_hour_not_stored_as_events() {
    let provider = HostileServer::start(|_| {
        Answer::Json(200, r#"{"access_token": "fresh", "token_type": "Bearer", "expires_in": 3600}"#.into())
    });
    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider(&provider.url)).await;
    let (_, cursor) = events_after(&platform, "", "").await;
    for _ in 0..2 {
        let (status, body) = platform.post("/connections/c2/refresh", json!({})).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["connection"]["authorization"]["status"], "active", "{body}");
    }
    assert!(events_after(&platform, &cursor, "").await.0.is_empty(), "no event per refresh");
    let (status, counts) = platform.get("/events/refreshes").await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    let hours = counts["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 1, "{counts}");
    assert_eq!(hours[0]["refreshed"], 2);
    assert!(hours[0]["hour"].as_str().unwrap().ends_with(":00:00Z"), "{counts}");
    let (_, later) = platform.get("/events/refreshes?since=2999-01-01T00:00:00Z").await;
    assert_eq!(later["hours"], json!([]));
}

/// A transient refresh failure (the provider down) is one `connection.refresh_failed` with the
/// failure's message; the connection stays active, so there is no `connection.error`.
#[tokio::test]
async fn a_transient_refresh_failure_is_a_refresh_failed_event() {
    let provider = HostileServer::start(|_| Answer::Json(503, r#"{"error": "temporarily_unavailable"}"#.into()));
    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider(&provider.url)).await;
    let (_, cursor) = events_after(&platform, "", "").await;
    let (status, body) = platform.post("/connections/c2/refresh", json!({})).await;
    assert!(status.is_success() || status.is_server_error(), "{status} {body}");
    let (failed, _) = events_after(&platform, &cursor, "").await;
    assert_eq!(kinds(&failed), [("connection.refresh_failed", "c2")], "{failed:?}");
    assert!(failed[0]["payload"]["message"].as_str().is_some_and(|message| !message.is_empty()), "{failed:?}");
    let retry_at = failed[0]["payload"]["retry_at"].as_str().expect("when the refresher tries again");
    let retry_at = chrono::DateTime::parse_from_rfc3339(retry_at).unwrap().to_utc();
    let occurred_at =
        chrono::DateTime::parse_from_rfc3339(failed[0]["occurred_at"].as_str().unwrap()).unwrap().to_utc();
    assert!(retry_at > occurred_at, "after the failure (the default cooldown is 30 s): {failed:?}");
}

/// A stopping server answers a waiting long-poll at once instead of holding up its shutdown.
#[tokio::test]
async fn a_long_poll_ends_when_the_server_stops() {
    // The node stopped must be the one polled.
    let platform = TestPlatform::empty().await.single_node().await;
    let (_, cursor) = events_after(&platform, "", "").await;
    let request = platform.request(Method::GET, &format!("/events?after={cursor}&wait=25s"));
    let waiting = tokio::spawn(async move { request.send().await.map(|response| response.status()) });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    platform.server.shutdown().await;
    let answered = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("answered").unwrap();
    assert_eq!(answered.unwrap(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(3), "stopped in {:?}", started.elapsed());
}

/// Another process's write on the same data directory (`xkit-dash origins add`, `keys revoke`)
/// wakes a running server's long-poll within about a second, and its events name `cli`.
#[tokio::test]
async fn writes_of_another_process_wake_long_polls_and_name_the_cli() {
    use crate::support::cli::{Home, exit_code, stderr};

    let platform = TestPlatform::empty().await;
    let (_, cursor) = events_after(&platform, "", "").await;
    let home = Home::new();
    let platform_args = platform.platform_args();
    let waiting_path = format!("/events?after={cursor}&wait=20s");
    let waiting = platform.get(&waiting_path);
    let other_process = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut command = home.command(&["origins", "add", "https://app.example"]);
        command.args(&platform_args);
        let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
        assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
        Instant::now()
    };
    let ((status, body), written_at) = tokio::join!(waiting, other_process);
    let answered_after = written_at.elapsed();
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["events"][0]["event_type"], "origin.added", "{body}");
    assert_eq!(body["events"][0]["actor"], "cli", "{body}");
    assert!(
        answered_after < Duration::from_millis(1500),
        "answered {answered_after:?} after the other process's write"
    );

    let cursor = body["next_cursor"].as_str().unwrap().to_owned();
    let keys = &platform.keys.publishable_key;
    let mut revoke = home.command(&["keys", "revoke", keys]);
    revoke.args(platform.platform_args());
    let output = tokio::task::spawn_blocking(move || revoke.output().unwrap()).await.unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    // The revoked key can no longer read the history: open the database as a reader would.
    let store = platform.store().await;
    let page = store.events(EventFilter::default(), Some(cursor), 10).await.unwrap();
    let revoked: Vec<_> = page.events.iter().map(|event| (event.event_type.as_str(), event.actor.as_deref())).collect();
    assert_eq!(revoked, [("key.revoked", Some("cli"))]);
}

/// Writes of xkit.js's Platform User API name the context's client: `client:<external_id>`.
#[tokio::test]
async fn client_api_writes_name_the_context_client() {
    let platform = TestPlatform::seeded(&two_connections_one_with_a_provider("http://127.0.0.1:9")).await;
    let (_, cursor) = events_after(&platform, "", "").await;
    let (_, created) = platform.create_context(json!({"external_id": "u1"})).await;
    let token = created["access_token"].as_str().unwrap();
    let removed = platform.http.delete(platform.url("/api/platform_user/connection/c1")).bearer_auth(token);
    let (status, body) = send(removed).await;
    assert!(status.is_success(), "{status} {body}");
    let (disabled, _) = events_after(&platform, &cursor, "type=connection.disabled").await;
    assert_eq!(kinds(&disabled), [("connection.disabled", "c1")]);
    assert_eq!(disabled[0]["actor"], "client:u1");
}
