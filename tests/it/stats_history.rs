//! `GET /api/platform/stats/history` and `authorization.status_changed_at` over real HTTP:
//! counts that follow real changes, and clear 400s for bad windows.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::hostile::{Answer, HostileServer};
use crate::support::server::{TestPlatform, authorization};

/// `u1` has a `crm` connection `c1` whose provider refreshes fine and an `hr` connection `c2`
/// whose provider has revoked the grant.
fn seed(working: &str, revoked: &str) -> String {
    let oauth = |url: &str| {
        json!({"authorize_url": format!("{url}/authorize"), "token_url": format!("{url}/token"),
               "client_id": "id", "client_secret": "secret"})
    };
    json!({
        "connectors": [{"slug": "crm", "name": "CRM", "oauth": oauth(working)}, {"slug": "hr", "name": "HR", "oauth": oauth(revoked)}],
        "contexts": [{"external_id": "u1"}],
        "connections": [
            {"id": "c1", "context": "u1", "connector": "crm", "authorization": {
                "status": "active", "access_token": "a1", "refresh_token": "r1", "expires_at": "now+1h"}},
            {"id": "c2", "context": "u1", "connector": "hr", "authorization": {
                "status": "active", "access_token": "a2", "refresh_token": "r2", "expires_at": "now+1h"}}
        ]
    })
    .to_string()
}

fn counts(of: &Value) -> [u64; 4] {
    ["errors", "recoveries", "refreshes", "transient_failures"].map(|key| of[key].as_u64().expect(key))
}

fn connector<'a>(bucket: &'a Value, slug: &str) -> Option<&'a Value> {
    bucket["connectors"].as_array().unwrap().iter().find(|entry| entry["connector"] == slug)
}

#[tokio::test]
async fn the_history_counts_errors_and_refreshes_per_connector_and_for_the_platform() {
    let working = HostileServer::start(|_| {
        Answer::Json(200, r#"{"access_token": "fresh", "token_type": "bearer", "expires_in": 3600}"#.into())
    });
    let revoked = HostileServer::start(|_| Answer::Json(400, r#"{"error": "invalid_grant"}"#.into()));
    let platform = TestPlatform::seeded(&seed(&working.url, &revoked.url)).await;

    let (status, before) = platform.get("/stats/history").await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["bucket_seconds"], 3600);
    assert_eq!(before["buckets"].as_array().unwrap().len(), 25, "24 hours and the current one: {before}");
    assert!(before["buckets"].as_array().unwrap().iter().all(|bucket| counts(bucket) == [0; 4]));

    for path in ["/connections/c1/refresh", "/connections/c2/refresh"] {
        let (status, body) = platform.post(path, json!({})).await;
        assert!(status.is_success(), "{path}: {status} {body}");
    }
    let (status, history) = platform.get("/stats/history?since=2h&bucket=1h").await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let buckets = history["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 3, "{history}");
    // Summed over the buckets: the changes may straddle an hour's end.
    let sum = |pick: &dyn Fn(&Value) -> Option<&Value>| {
        buckets
            .iter()
            .filter_map(pick)
            .map(counts)
            .fold([0; 4], |total, each| std::array::from_fn(|i| total[i] + each[i]))
    };
    assert_eq!(sum(&|bucket| Some(bucket)), [1, 0, 1, 0], "{history}");
    assert_eq!(sum(&|bucket| connector(bucket, "hr")), [1, 0, 0, 0], "{history}");
    assert_eq!(sum(&|bucket| connector(bucket, "crm")), [0, 0, 1, 0], "{history}");
    assert_eq!(counts(&buckets[0]), [0; 4], "nothing two hours ago: {history}");
    let since = chrono::DateTime::parse_from_rfc3339(history["since"].as_str().unwrap()).unwrap();
    assert_eq!(since.timestamp() % 3600, 0, "hourly buckets start on the hour");

    // An RFC 3339 since and five-minute buckets see the same error.
    let since = (chrono::Utc::now() - chrono::Duration::minutes(30)).to_rfc3339();
    let (status, fine) = platform.get(&format!("/stats/history?since={}&bucket=5m", urlencode(&since))).await;
    assert_eq!(status, StatusCode::OK, "{fine}");
    let errors: u64 = fine["buckets"].as_array().unwrap().iter().map(|bucket| bucket["errors"].as_u64().unwrap()).sum();
    assert_eq!(errors, 1, "{fine}");
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn bad_windows_are_refused_with_a_clear_400() {
    let platform = TestPlatform::seeded(&seed("http://127.0.0.1:9", "http://127.0.0.1:9")).await;
    for (query, said) in [
        ("since=yesterday", "since must be a duration"),
        ("bucket=often", "bucket must be a duration"),
        ("bucket=0s", "at least 1s"),
        ("since=30days&bucket=1m", "at most 400"),
        ("since=2999-01-01T00:00:00Z", "future"),
    ] {
        let (status, body) = platform.get(&format!("/stats/history?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(body["error"].as_str().is_some_and(|error| error.contains(said)), "{query}: {body}");
    }
}

#[tokio::test]
async fn status_changed_at_moves_with_the_status_only() {
    let revoked = HostileServer::start(|_| Answer::Json(400, r#"{"error": "invalid_grant"}"#.into()));
    let platform = TestPlatform::seeded(&seed(&revoked.url, &revoked.url)).await;
    let changed_at = |body: &Value| {
        let text = authorization(body)["status_changed_at"].as_str().expect("status_changed_at").to_owned();
        chrono::DateTime::parse_from_rfc3339(&text).expect("RFC 3339")
    };
    let (_, c1) = platform.get("/connections/c1").await;
    let seeded_at = changed_at(&c1);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    platform.post("/connections/c2/refresh", json!({})).await;
    let (_, c2) = platform.get("/connections/c2").await;
    assert_eq!(authorization(&c2)["status"], "error");
    assert!(changed_at(&c2) > seeded_at, "set when the status changed: {c2}");
    let (_, c1) = platform.get("/connections/c1").await;
    assert_eq!(changed_at(&c1), seeded_at, "untouched connections keep theirs");

    let (status, listed) = platform.get("/connections?limit=10").await;
    assert_eq!(status, StatusCode::OK);
    let listed_c2 = listed["connections"].as_array().unwrap().iter().find(|c| c["id"] == "c2").unwrap();
    assert_eq!(listed_c2["authorization"]["status_changed_at"], authorization(&c2)["status_changed_at"]);
}

/// A connection in error repaired through the catalog (the demo's sandbox provider) counts as
/// a recovery of its connector, and its `status_changed_at` moves.
#[tokio::test]
async fn a_repair_through_the_catalog_counts_as_a_recovery() {
    let platform = TestPlatform::demo().await;
    let (_, failed) = platform.get("/connections?status=error&connector=slack&limit=1").await;
    let failed = &failed["connections"][0];
    let (id, context) = (failed["id"].as_str().unwrap(), failed["context"]["external_id"].as_str().unwrap());
    let broken_since = failed["authorization"]["status_changed_at"].as_str().expect("status_changed_at").to_owned();
    // Summed over the buckets: the repair may happen in the next hour.
    let recoveries = |history: &Value| {
        let buckets = history["buckets"].as_array().unwrap();
        let all: u64 = buckets.iter().map(|bucket| bucket["recoveries"].as_u64().unwrap()).sum();
        let slack: u64 = buckets
            .iter()
            .filter_map(|bucket| connector(bucket, "slack"))
            .map(|slack| slack["recoveries"].as_u64().unwrap())
            .sum();
        (all, slack)
    };
    let (_, before) = platform.get("/stats/history?since=1h").await;
    let (all_before, slack_before) = recoveries(&before);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    platform.repair_through_the_catalog(context, "slack", id, "repairer").await;

    let (_, after) = platform.get("/stats/history?since=1h").await;
    assert_eq!(recoveries(&after), (all_before + 1, slack_before + 1), "{after}");
    let (_, repaired) = platform.get(&format!("/connections/{id}")).await;
    assert_eq!(authorization(&repaired)["status"], "active");
    assert_ne!(authorization(&repaired)["status_changed_at"].as_str(), Some(broken_since.as_str()));
}
