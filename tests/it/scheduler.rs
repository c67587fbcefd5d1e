//! The proactive refresh scheduler over real HTTP: tokens refreshed with nobody reading them,
//! a revoked grant found by the scheduler (actor `scheduler`), the concurrency bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use xkit_dash::server::ServerConfig;
use xkit_dash::server::scheduler::SchedulerSettings;

use crate::support::hostile::{Answer, HostileServer};
use crate::support::oauth::{browser, page_post};
use crate::support::server::{TestPlatform, send};

/// A scheduler that ticks often enough for a test.
fn scheduler(concurrency: usize) -> Option<SchedulerSettings> {
    Some(SchedulerSettings { concurrency, interval: Duration::from_millis(200), ..Default::default() })
}

/// The events of `query` after `after`, waiting (long-poll, bounded by `within`) until there are.
async fn wait_for_events(platform: &TestPlatform, after: &str, query: &str, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let (status, body) = platform.get(&format!("/events?after={after}&{query}&wait=5s")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let events = body["events"].as_array().unwrap();
        if !events.is_empty() {
            return events.clone();
        }
    }
    panic!("no event for {query} within {within:?}");
}

/// The cursor after every event so far.
async fn newest_cursor(platform: &TestPlatform) -> String {
    let mut cursor = String::new();
    for _ in 0..1_000 {
        let (_, body) = platform.get(&format!("/events?after={cursor}&limit=500")).await;
        cursor = body["next_cursor"].as_str().unwrap().to_owned();
        if body["events"].as_array().unwrap().len() < 500 {
            return cursor;
        }
    }
    panic!("the event history did not end within 1,000 pages");
}

/// The demo's story, with nobody reading the connection: a Zendesk grant revoked on the
/// sandbox's page becomes `connection.error` by the scheduler within about a minute (the demo's
/// Zendesk tokens live one minute), and a repair through the catalog makes it `connection.repaired`.
#[tokio::test]
async fn a_revoked_sandbox_grant_becomes_an_error_without_a_read_and_a_catalog_repair_fixes_it() {
    let platform = TestPlatform::with(|config| ServerConfig { demo: true, scheduler: scheduler(4), ..config }).await;
    let (_, active) = platform.get("/connections?status=active&connector=zendesk&limit=1").await;
    let connection = &active["connections"][0];
    let id = connection["id"].as_str().unwrap();
    let context = connection["context"]["external_id"].as_str().unwrap();
    let cursor = newest_cursor(&platform).await;

    let (_, grants) = send(platform.http.get(platform.url("/sandbox/grants"))).await;
    let revoked: Vec<&Value> = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|grant| grant["client_id"] == "northwind-zendesk" && grant["subject"] == context)
        .filter(|grant| grant["revoked_at"].is_null())
        .collect();
    assert!(!revoked.is_empty(), "the connection's grant: {grants}");
    let admin = browser();
    for grant in revoked {
        let revoke = platform.url(&format!("/sandbox/grants/{}/revoke", grant["id"]));
        let answer = page_post(&admin, revoke).send().await.unwrap();
        assert!(answer.status().is_success() || answer.status().is_redirection(), "{}", answer.status());
    }

    let broken =
        wait_for_events(&platform, &cursor, &format!("connection={id}&type=connection.error"), Duration::from_secs(90))
            .await;
    assert_eq!(broken[0]["actor"], "scheduler", "{broken:?}");
    assert_eq!(broken[0]["payload"]["error_code"], "invalid_grant", "{broken:?}");
    let (_, listed) = platform.get("/connections?connector=zendesk&status=error&limit=500").await;
    assert!(listed["connections"].as_array().unwrap().iter().any(|listed| listed["id"] == id), "listed in error");

    // The repair, as a user does it from the catalog's page.
    platform.repair_through_the_catalog(context, "zendesk", id, context).await;
    let after_error = format!("connection={id}&type=connection.repaired");
    let repaired = wait_for_events(&platform, &cursor, &after_error, Duration::from_secs(5)).await;
    assert_eq!(repaired[0]["actor"], "catalog");
}

/// `u1` holds one connection per connector; each connector's token endpoint is its own path on
/// `provider`, so the test can tell which connection the scheduler refreshed.
fn seed(provider: &str, connections: &[(&str, &str, &str)]) -> String {
    let connectors: Vec<Value> = connections
        .iter()
        .map(|(slug, _, _)| {
            json!({"slug": slug, "name": slug, "oauth": {"authorize_url": format!("{provider}/{slug}/authorize"),
                "token_url": format!("{provider}/{slug}/token"), "client_id": "id", "client_secret": "secret"}})
        })
        .collect();
    let connections: Vec<Value> = connections
        .iter()
        .map(|(slug, expires_at, last_refreshed_at)| {
            json!({"id": format!("conn-{slug}"), "context": "u1", "connector": slug, "authorization": {
                "status": "active", "access_token": "old", "refresh_token": format!("rt-{slug}"),
                "expires_at": expires_at, "last_refreshed_at": last_refreshed_at}})
        })
        .collect();
    json!({"connectors": connectors, "contexts": [{"external_id": "u1"}], "connections": connections}).to_string()
}

/// A platform loaded from `seed` whose scheduler runs with `settings`.
async fn scheduled(seed: &str, settings: Option<SchedulerSettings>) -> TestPlatform {
    let seed_dir = tempfile::tempdir().unwrap();
    let seed_path = seed_dir.path().join("seed.json");
    std::fs::write(&seed_path, seed).unwrap();
    TestPlatform::with(|config| ServerConfig { seed: Some(seed_path), scheduler: settings, ..config }).await
}

const FRESH_TOKENS: &str = r#"{"access_token": "new", "token_type": "Bearer", "expires_in": 3600}"#;

/// With nobody reading: a token that expires within the margin is refreshed before it expires,
/// and so is one not refreshed for longer than `idle`; a fresh, recently refreshed one is not.
#[tokio::test]
async fn expiring_and_idle_tokens_are_refreshed_without_a_read() {
    let provider = HostileServer::start(|_| Answer::Json(200, FRESH_TOKENS.into()));
    let seed = seed(
        &provider.url,
        &[("expiring", "now+2m", "now-58m"), ("idle", "now+10h", "now-25h"), ("fresh", "now+10h", "now-1h")],
    );
    let idle = Duration::from_secs(24 * 3600);
    let platform = scheduled(&seed, Some(SchedulerSettings { idle, ..scheduler(4).unwrap() })).await;

    let deadline = Instant::now() + Duration::from_secs(10);
    while (provider.count("/expiring/token") == 0 || provider.count("/idle/token") == 0) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(provider.count("/expiring/token"), 1, "the expiring token, once");
    assert_eq!(provider.count("/idle/token"), 1, "the idle token, once");
    // A few more ticks: nothing else is due.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(provider.count("/fresh/token"), 0, "a fresh token is left alone");
    assert_eq!(
        (provider.count("/expiring/token"), provider.count("/idle/token")),
        (1, 1),
        "refreshed tokens are fresh"
    );

    let (_, listed) = platform.get("/connections?limit=10").await;
    for connection in listed["connections"].as_array().unwrap() {
        let expires_at = connection["authorization"]["expires_at"].as_str().unwrap();
        let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at).unwrap().to_utc();
        assert!(expires_at > chrono::Utc::now() + chrono::Duration::minutes(50), "{connection}");
    }
    let (_, counts) = platform.get("/events/refreshes").await;
    let refreshed: u64 =
        counts["hours"].as_array().unwrap().iter().map(|hour| hour["refreshed"].as_u64().unwrap()).sum();
    assert_eq!(refreshed, 2, "{counts}");
}

/// Twelve tokens due at once, a slow provider, concurrency 3: never more than three token
/// requests in flight, and the bound is used.
#[tokio::test]
async fn proactive_refreshes_stay_within_the_concurrency_bound() {
    let in_flight = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (counter, peak) = (in_flight.clone(), most.clone());
    let provider = HostileServer::start(move |_| {
        let now = counter.fetch_add(1, Ordering::SeqCst) + 1;
        peak.fetch_max(now, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        counter.fetch_sub(1, Ordering::SeqCst);
        Answer::Json(200, FRESH_TOKENS.into())
    });
    let slugs: Vec<String> = (0..12).map(|index| format!("crm{index}")).collect();
    let connections: Vec<(&str, &str, &str)> = slugs.iter().map(|slug| (slug.as_str(), "now-1m", "now-2h")).collect();
    let platform = scheduled(&seed(&provider.url, &connections), scheduler(3)).await;

    let deadline = Instant::now() + Duration::from_secs(20);
    while provider.seen().len() < 12 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(provider.seen().len(), 12, "every due token refreshed, once");
    assert_eq!(most.load(Ordering::SeqCst), 3, "at most 3 in flight, and 3 used");
    platform.server.shutdown().await;
}

/// Two servers on one database (the dashboard's embedded demo and a command's, say) refresh a
/// connection once between them: reads of an expired token on both at once make one token
/// request, and every read gets the new token (refresh tokens rotate, and a provider that sees
/// one used twice may revoke the grant).
#[tokio::test]
async fn two_processes_on_one_database_refresh_a_connection_once() {
    let provider = HostileServer::start(|_| {
        std::thread::sleep(Duration::from_millis(300));
        Answer::Json(200, FRESH_TOKENS.into())
    });
    let platform = TestPlatform::seeded(&seed(&provider.url, &[("crm", "now-1m", "now-2h")])).await;
    let other = xkit_dash::server::start(platform.config()).await.unwrap();
    let read = |base: String| {
        let request = platform
            .http
            .get(format!("{base}/api/platform/contexts/u1/connections/crm"))
            .basic_auth(&platform.keys.publishable_key, Some(platform.secret()));
        send(request)
    };
    let reads = (0..6).map(|index| {
        let base = if index % 2 == 0 { platform.server.base_url() } else { other.base_url() };
        read(base)
    });
    for (status, body) in futures::future::join_all(reads).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["connection"]["authorization"]["access_token"], "new", "{body}");
    }
    assert_eq!(provider.count("/crm/token"), 1, "one token request between the two servers");
    other.shutdown().await;
}

/// A provider down, nobody reading: each failed proactive refresh is a
/// `connection.refresh_failed` by the scheduler, and the scheduler retries less and less often
/// (the cooldown, then doubling), so an outage is not an event per cooldown per connection.
#[tokio::test]
async fn a_provider_outage_is_retried_with_a_growing_wait_and_each_failure_is_an_event() {
    use xkit_dash::server::refresh::RefreshSettings;

    let provider = HostileServer::start(|_| Answer::Json(503, r#"{"error": "temporarily_unavailable"}"#.into()));
    let seed_dir = tempfile::tempdir().unwrap();
    let seed_path = seed_dir.path().join("seed.json");
    std::fs::write(&seed_path, seed(&provider.url, &[("crm", "now-1m", "now-2h")])).unwrap();
    let refresh = RefreshSettings { cooldown: Duration::from_millis(200), ..RefreshSettings::default() };
    let ticking = SchedulerSettings { interval: Duration::from_millis(50), ..SchedulerSettings::default() };
    let platform = TestPlatform::with(|config| ServerConfig {
        seed: Some(seed_path),
        refresh,
        scheduler: Some(ticking),
        ..config
    })
    .await;

    // Waits of about 0.2, 0.4, 0.8 and 1.6 s: attempts at about 0, 0.2, 0.6, 1.4 and 3.0 s.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let attempts = provider.count("/crm/token");
    // Retrying at every cooldown would be about ten; jitter moves each wait by a fifth.
    assert!((3..=5).contains(&attempts), "{attempts} token requests in 2.5 s");
    let (_, failed) = platform.get("/events?type=connection.refresh_failed").await;
    let failed = failed["events"].as_array().unwrap();
    assert!((attempts - 1..=attempts).contains(&failed.len()), "{attempts} attempts, events: {failed:?}");
    assert!(
        failed.iter().all(|event| event["actor"] == "scheduler" && event["connection"] == "conn-crm"),
        "{failed:?}"
    );
    let (_, listed) = platform.get("/connections?limit=1").await;
    assert_eq!(
        listed["connections"][0]["authorization"]["status"], "active",
        "a provider outage is not the user's to fix"
    );
}
