//! `connect()` of the real xkit.js 3.14.1 (npm, unmodified) in headless Chromium (Debian's
//! `/usr/bin/chromium`, driven by `tests/xkitjs/run-chromium.mjs`) against `xkit-dash serve
//! --demo --tls-self-signed`, from a page on another, listed origin: the popup through both
//! loading pages, the sandbox's consent and the callback, the realtime socket's push, and the
//! new connection's token. A real browser shows what jsdom cannot: popups, `postMessage`
//! origins, the hash-allowed scripts, and third-party cookies refused (the page is cross-site).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::support::xkitjs::XkitJsPlatform;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole runner process (its own deadline is 120 s).
const RUNNER_TIMEOUT: Duration = Duration::from_secs(150);

/// Runs `run-chromium.mjs --scenario connect` from a page on `http://127.0.0.1:PAGE_PORT`.
async fn run_connect(platform: &XkitJsPlatform, page_port: u16, token: &str) -> Value {
    let harness = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xkitjs");
    let mut command = tokio::process::Command::new("node");
    command
        .arg("run-chromium.mjs")
        .args(["--domain", &platform.domain, "--scenario", "connect", "--page-port", &page_port.to_string()])
        .arg("--cert")
        .arg(&platform.certificate)
        .current_dir(harness)
        .env("XKITJS_TOKEN", token)
        .kill_on_drop(true);
    let output = tokio::time::timeout(RUNNER_TIMEOUT, command.output())
        .await
        .expect("run-chromium.mjs ends within its deadline")
        .expect("node runs (Node 20+ is needed)");
    assert!(
        output.status.success(),
        "run-chromium.mjs connect failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the runner prints one JSON report")
}

fn step<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|each| each["step"] == name)
        .unwrap_or_else(|| panic!("no step {name:?} in {report:#}"))
}

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
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is needed (apt-get install chromium; .ci/run does)");
    let platform = XkitJsPlatform::start();
    // The page's own origin, on a port free now, listed as an operator would.
    let page_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    platform.add_origin(&format!("http://127.0.0.1:{page_port}"));
    let token = platform.context_token("org_connect_newcomer").await;

    let report = run_connect(&platform, page_port, &token).await;

    let connect = step(&report, "connect");
    assert_eq!(connect["outcome"], "returned", "{connect:#}");
    assert_eq!(connect["value"]["connector"]["slug"], "slack", "{connect:#}");
    assert_eq!(connect["value"]["enabled"], true, "{connect:#}");
    let credential = step(&report, "getConnectionToken after connect");
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
