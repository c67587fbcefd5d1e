//! The real xkit.js 3.14.1 (npm, unmodified) in jsdom against `xkit-dash serve --demo
//! --tls-self-signed`, from a page on another origin (CORS with credentials, cookies in a jar as
//! a browser keeps them): the seed 003 snippet's login, `login`, `logout`, `getAccessToken`,
//! `getPlatform`, the public calls before login, refused tokens, and an unlisted page origin;
//! and the same session calls once in headless Chromium, whose CORS checks are the real ones.
//! What the library needs is `tests/xkitjs/CONTRACT.md`.

use serde_json::Value;

use crate::support::jwt_claims;
use crate::support::xkitjs::{
    PAGE_ORIGIN, UNLISTED_ORIGIN, XkitJsPlatform, chromium_step, foreign_token, navigations, requests, step,
};

const CONTEXT: &str = "org_acme";

fn assert_returned(step: &Value) {
    assert_eq!(step["outcome"], "returned", "{step:#}");
}

/// The snippet's login part: start-up without a session (`POST /sessions/token` 401, which the
/// library needs to run its public fallbacks), `login(token)` setting the session, and, for a
/// context without a connection, the page sent to `connectorUrl(slug)` on this server.
#[tokio::test]
async fn the_snippet_logs_in_and_sends_a_context_without_a_connection_to_the_catalog() {
    let platform = XkitJsPlatform::start();
    // A new context: no connection to Slack, whatever the demo holds.
    let token = platform.context_token("org_snippet_newcomer").await;
    let report = platform.run_node("snippet", PAGE_ORIGIN, &token, &[]).await;
    let snippet = step(&report, "page", "snippet");
    assert_returned(snippet);
    let requests = requests(snippet);
    for expected in ["GET /platform 200", "POST /sessions/token 401", "POST /sessions 200"] {
        assert!(requests.contains(&expected.to_owned()), "{expected} in {requests:?}");
    }
    assert_eq!(snippet["events"][0]["getConnectionToken"], Value::Null);
    assert_eq!(navigations(snippet), [platform.url("/connectors/slack")]);
}

/// `login` sets the cookie session: the next page load resumes it (`POST /sessions/token` 200
/// at start-up) and `getAccessToken()` gives a context token of the same context.
#[tokio::test]
async fn a_login_session_resumes_on_the_next_page_and_gives_access_tokens() {
    let platform = XkitJsPlatform::start();
    let token = platform.context_token(CONTEXT).await;
    // Tokens carry whole seconds (`iat`, `exp`): one minted in the login's second would equal it.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let report = platform.run_node("resume", PAGE_ORIGIN, &token, &[]).await;
    assert_eq!(requests(step(&report, "first load", "login")), ["POST /sessions 200"]);
    let init = step(&report, "second load", "init");
    assert!(requests(init).contains(&"POST /sessions/token 200".to_owned()), "{init:#}");
    let access = step(&report, "second load", "getAccessToken");
    assert_returned(access);
    let access_token = access["value"].as_str().expect("a token");
    assert_eq!(jwt_claims(access_token)["external_id"], CONTEXT);
    assert_ne!(access_token, token, "a fresh token, not the login one");
}

/// Before login the public calls work (through their public fallbacks, which need start-up's
/// 401); after login `getPlatform()` works with the Bearer; `logout()` ends the session (204) and
/// a call needing the user then sends the page to the platform's login page.
#[tokio::test]
async fn public_calls_login_and_logout() {
    let platform = XkitJsPlatform::start();
    let token = platform.context_token(CONTEXT).await;
    let report = platform.run_node("methods", PAGE_ORIGIN, &token, &[]).await;
    let login_page = platform.platform().await["login_redirect_url"].as_str().unwrap().to_owned();

    let before = step(&report, "page", "getPlatform before login");
    assert_returned(before);
    assert_eq!(before["value"]["login_redirect_url"], login_page.as_str());
    let connectors = step(&report, "page", "listConnectors before login");
    assert_returned(connectors);
    assert!(connectors["value"].as_array().is_some_and(|list| !list.is_empty()), "{connectors:#}");
    assert_eq!(requests(connectors), ["GET /platform/connectors 200"]);
    let connector = step(&report, "page", "getConnector before login");
    assert_returned(connector);
    assert_eq!(connector["value"]["slug"], "slack");

    let login = step(&report, "page", "login");
    assert_returned(login);
    assert_eq!(requests(login), ["POST /sessions 200"]);
    assert_eq!(login["requests"][0]["bearer"], true);
    // The library keeps start-up's refusal for this page: no request, the same 401.
    let access = step(&report, "page", "getAccessToken");
    assert_eq!(access["error"]["statusCode"], 401, "{access:#}");
    let after = step(&report, "page", "getPlatform");
    assert_returned(after);
    assert_eq!(requests(after), ["GET /platform 200"]);

    let logout = step(&report, "page", "logout");
    assert_returned(logout);
    assert_eq!(requests(logout), ["DELETE /sessions 204"]);
    let after_logout = step(&report, "page", "listConnections after logout");
    assert_eq!(navigations(after_logout), [login_page.as_str()]);
}

/// Malformed, tampered, expired and other-platform tokens: `login` is refused (401, which the
/// library logs and swallows), the public calls still answer, and a call needing the user
/// sends the page to the platform's login page.
#[tokio::test]
async fn refused_tokens_keep_public_calls_and_send_the_user_to_log_in() {
    let platform = XkitJsPlatform::start();
    let token = platform.context_token(CONTEXT).await;
    let expired = platform.expired_token(CONTEXT).await;
    let foreign = foreign_token(CONTEXT);
    let env = [("XKITJS_EXPIRED_TOKEN", expired.as_str()), ("XKITJS_FOREIGN_TOKEN", foreign.as_str())];
    let report = platform.run_node("bad-tokens", PAGE_ORIGIN, &token, &env).await;
    let login_page = platform.platform().await["login_redirect_url"].as_str().unwrap().to_owned();
    for page in ["malformed token", "tampered token", "expired token", "other platform token"] {
        assert_eq!(requests(step(&report, page, "login")), ["POST /sessions 401"], "{page}");
        assert_returned(step(&report, page, "getPlatform"));
        let connector = step(&report, page, "getConnector");
        assert_returned(connector);
        assert_eq!(connector["value"]["slug"], "slack", "{page}");
        let token_call = step(&report, page, "getConnectionToken");
        assert_eq!(token_call["outcome"], "pending", "{page}: {token_call:#}");
        assert_eq!(navigations(token_call), [login_page.as_str()], "{page}");
    }
}

/// A page on an origin the platform does not list gets no CORS answer: every call fails in
/// the browser (here at the preflight), and the server says why in its log.
#[tokio::test]
async fn a_page_origin_not_in_the_list_is_refused() {
    let platform = XkitJsPlatform::start();
    let token = platform.context_token(CONTEXT).await;
    let report = platform.run_node("methods", UNLISTED_ORIGIN, &token, &[]).await;
    let init = step(&report, "page", "init");
    let refused = requests(init);
    assert!(!refused.is_empty() && refused.iter().all(|request| request.contains("failed")), "{refused:?}");
    let public = step(&report, "page", "getPlatform before login");
    assert_eq!(public["outcome"], "threw", "{public:#}");
    assert!(
        platform.server.stderr().contains(&format!("xkit-dash origins add {UNLISTED_ORIGIN}")),
        "{}",
        platform.server.stderr()
    );
}

/// In a real browser (Debian's Chromium, headless), from a page on another origin: the
/// preflighted start-up, the public calls, `login` and `logout`.
#[tokio::test]
async fn in_chromium_the_session_calls_pass_the_real_cors_checks() {
    let platform = XkitJsPlatform::start();
    let token = platform.context_token(CONTEXT).await;
    let report = platform.run_chromium("methods", &token).await;
    let login_page = platform.platform().await["login_redirect_url"].as_str().unwrap().to_owned();
    let init = chromium_step(&report, "init");
    let started = requests(init);
    for expected in ["GET /platform 200", "POST /sessions/token 401"] {
        assert!(started.contains(&expected.to_owned()), "{expected} in {started:?}");
    }
    for public in ["getPlatform before login", "listConnectors before login", "getConnector before login"] {
        assert_returned(chromium_step(&report, public));
    }
    assert_eq!(requests(chromium_step(&report, "login")), ["POST /sessions 200"]);
    assert_returned(chromium_step(&report, "getPlatform"));
    assert_eq!(requests(chromium_step(&report, "logout")), ["DELETE /sessions 204"]);
    let after_logout = chromium_step(&report, "listConnections after logout");
    assert_eq!(navigations(after_logout), [login_page.as_str()]);
}
