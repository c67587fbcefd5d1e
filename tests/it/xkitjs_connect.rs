//! `connect()` of the real xkit.js 3.14.1 (npm, unmodified) in headless Chromium (Debian's
//! `/usr/bin/chromium`, driven by `tests/xkitjs/run-chromium.mjs`) against `xkit-dash serve
//! --demo --tls-self-signed`, from a page on another, listed origin: the popup through both
//! loading pages, the sandbox's consent and the callback, the realtime socket's push, and the
//! new connection's token. A real browser shows what jsdom cannot: popups, `postMessage`
//! origins, the hash-allowed scripts, and third-party cookies refused (the page is cross-site).

use serde_json::Value;

use crate::support::xkitjs::{XkitJsPlatform, chromium_step};

/// The Phoenix frames the page's socket received, parsed.
fn received_frames(report: &Value) -> Vec<Value> {
    report["socket"]
        .as_array()
        .expect("socket frames")
        .iter()
        .filter_map(|frame| frame["received"].as_str())
        .map(|text| serde_json::from_str(text).expect("a JSON frame"))
        .collect()
}

#[tokio::test]
async fn connect_runs_the_popup_to_a_new_connection_resolved_by_the_socket_push() {
    let platform = XkitJsPlatform::start();
    let token = platform.context_token("org_connect_newcomer").await;

    let report = platform.run_chromium("connect", &token).await;

    let connect = chromium_step(&report, "connect");
    assert_eq!(connect["outcome"], "returned", "{connect:#}");
    assert_eq!(connect["value"]["connector"]["slug"], "slack", "{connect:#}");
    assert_eq!(connect["value"]["enabled"], true, "{connect:#}");
    let credential = chromium_step(&report, "getConnectionToken after connect");
    assert!(credential["value"].as_str().is_some_and(|token| token.starts_with("sbx_at_")), "{credential:#}");

    let popup = &report["popups"][0];
    let visited: Vec<&str> =
        popup["navigations"].as_array().expect("popup navigations").iter().filter_map(Value::as_str).collect();
    let base = platform.url("");
    let expected_prefixes = [
        format!("{base}/authorizations/loading?opener_origin="),
        format!("{base}/authorizations/slack/loading?opener_origin="),
        format!("{base}/sandbox/oauth/authorize?"),
        format!("{base}/catalog/oauth/callback?code="),
    ];
    assert_eq!(visited.len(), expected_prefixes.len(), "{visited:#?}");
    for (url, prefix) in visited.iter().zip(&expected_prefixes) {
        assert!(url.starts_with(prefix.as_str()), "{url} should start with {prefix}");
    }
    let actions = popup["actions"].as_array().expect("popup actions");
    assert!(actions.iter().any(|action| action == "after approval: closed"), "the callback closed it: {actions:?}");

    let frames = received_frames(&report);
    let replies: Vec<&Value> = frames.iter().filter(|frame| frame[3] == "phx_reply").collect();
    assert_eq!(replies[0][4]["response"]["status"], "awaiting_callback", "{frames:#?}");
    let pushed: Vec<&Value> = frames.iter().filter(|frame| frame[3] == "status_update").collect();
    assert_eq!(pushed.last().map(|frame| &frame[4]["status"]), Some(&Value::from("active")), "{frames:#?}");
    assert!(pushed.iter().all(|frame| frame[0] == replies[0][0] && frame[1].is_null()), "{frames:#?}");
}
