//! The dashboard follows the server's events: the real binary in a pseudo-terminal against the
//! real server, a connection broken through the API while the dashboard is open, and a server
//! without the events route.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::hostile::{Answer, HostileServer};
use crate::support::server::{TestPlatform, two_connections_one_with_a_provider};
use crate::tui_e2e::Dashboard;

fn hr_row(screen: &str) -> &str {
    screen.lines().find(|line| line.contains("HR") && line.contains("c2")).unwrap_or("")
}

#[test]
fn a_connection_broken_through_the_server_turns_red_within_two_seconds_without_a_rescan() {
    let provider = HostileServer::start(|_| {
        Answer::Json(400, r#"{"error": "invalid_grant", "error_description": "revoked"}"#.into())
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let platform = runtime.block_on(TestPlatform::seeded(&two_connections_one_with_a_provider(&provider.url)));
    let env = [
        ("XKIT_API_URL", platform.server.base_url()),
        ("XKIT_PUBLISHABLE_KEY", platform.keys.publishable_key.clone()),
        ("XKIT_SECRET_KEY", platform.secret().to_owned()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(name, value)| (*name, value.as_str())).collect();
    // A rescan could show the break too: ask for one only every hour, so only events can.
    let mut dash = Dashboard::start(&env, &["--refresh", "1h"]);
    let screen = dash.wait_for("the platform to load, live", |text| {
        text.contains("● live") && text.contains("2 connections") && !hr_row(text).is_empty()
    });
    assert!(hr_row(&screen).contains("active"), "{screen}");
    assert!(screen.contains("0 error"), "{screen}");

    // The break: a refresh through the API meets the revoked grant.
    let broken_at = Instant::now();
    runtime.block_on(async {
        let (status, body) = platform.post("/connections/c2/refresh", json!({})).await;
        assert!(status.is_success(), "{status} {body}");
    });
    let screen = dash.wait_for("the HR row to turn red and the counts to follow", |text| {
        hr_row(text).contains("✗ error") && text.contains("1 error")
    });
    let shown_after = broken_at.elapsed();
    assert!(shown_after < Duration::from_secs(2), "shown {shown_after:?} after the break:\n{screen}");
    assert!(hr_row(&screen).contains("<1m"), "in error since just now: {}", hr_row(&screen));
    assert!(screen.contains("● live"), "{screen}");

    // The Events view has it at the top, with the provider's words; enter goes to the row.
    dash.press("E");
    let screen = dash.wait_for_text("Events");
    let newest = screen.lines().find(|line| line.contains("c2")).unwrap_or_default().to_owned();
    assert!(newest.contains("error") && newest.contains("invalid_grant: revoked"), "{screen}");
    dash.press("\r");
    dash.wait_for("the panes again, on the broken connection", |text| !text.contains("newest first"));
}

#[test]
fn a_server_without_events_is_polled_and_the_header_says_so() {
    let server = HostileServer::start(|seen| match seen.path() {
        "/api/platform/contexts" => {
            Answer::Json(200, r#"{"contexts":[{"external_id":"x0"}],"next_cursor":null}"#.into())
        }
        "/api/platform/connectors" => {
            Answer::Json(200, r#"{"connectors":[{"slug":"s","name":"S"}],"next_cursor":null}"#.into())
        }
        "/api/platform/connections" => Answer::Json(200, r#"{"connections":[],"next_cursor":null}"#.into()),
        _ => Answer::Json(404, r#"{"error":"not found"}"#.into()),
    });
    let env = [("XKIT_API_URL", server.url.as_str()), ("XKIT_PUBLISHABLE_KEY", "pk"), ("XKIT_SECRET_KEY", "sk")];
    let dash = Dashboard::start(&env, &["--refresh", "7s"]);
    let screen = dash.wait_for_text("polling every 7s");
    assert!(!screen.contains("● live"), "{screen}");
    assert_eq!(server.count("/api/platform/events"), 1, "a missing route is asked for once");
}
