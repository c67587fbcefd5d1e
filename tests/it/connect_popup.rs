//! xkit.js's connect popup on the server side, over plain HTTP against the in-process demo
//! platform: the two loading pages (who they post `'authWindow:ready'` to, the one-time token
//! that signs the popup in) and a client-API flow finished in the popup, whose browser never
//! got the flow's cookie (as Chromium drops third-party cookies), pushed on the realtime socket.

use std::time::Duration;

use base64::Engine as _;
use futures::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_SECURITY_POLICY, SET_COOKIE};
use serde_json::{Value, json};
use sha2::Digest as _;
use tokio_tungstenite::tungstenite::Message;

use crate::support::cli::Home;
use crate::support::oauth::{browser, location, page_post};
use crate::support::server::{TestPlatform, send};

/// A new context on `platform` and its context token.
async fn context_token(platform: &TestPlatform, external_id: &str) -> String {
    let (status, created) = platform.create_context(json!({ "external_id": external_id })).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["access_token"].as_str().unwrap().to_owned()
}

/// `xkit-dash origins add ORIGIN --data-dir DIR` (or `--database URL`), as an operator would,
/// while the server runs.
pub fn add_origin(platform: &TestPlatform, origin: &str) {
    Home::new().command(&["origins", "add", origin]).args(platform.platform_args()).assert().success();
}

/// The server's own origin: an opener origin allowed without being listed.
fn own_origin(platform: &TestPlatform) -> String {
    platform.server.base_url().trim_end_matches('/').to_owned()
}

fn encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// A one-time token from `POST /api/platform_user/sessions/ott`.
async fn one_time_token(platform: &TestPlatform, token: &str) -> String {
    let request = platform.http.post(platform.url("/api/platform_user/sessions/ott")).bearer_auth(token);
    let (status, body) = send(request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["ott"].as_str().unwrap().to_owned()
}

/// A page's status, its text, and the inline scripts the page's policy allows (checked: each
/// script on the page is allowed by its SHA-256, and nothing else runs).
async fn page(response: reqwest::Response) -> (StatusCode, String, Vec<String>) {
    let status = response.status();
    let policy = response.headers()[CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
    let text = response.text().await.unwrap();
    let scripts: Vec<String> = text
        .split("<script>")
        .skip(1)
        .map(|rest| rest.split("</script>").next().expect("a closed script").to_owned())
        .collect();
    for script in &scripts {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
        assert!(policy.contains(&format!("script-src 'sha256-{hash}'")), "the script is allowed by its hash: {policy}");
    }
    if scripts.is_empty() {
        assert!(!policy.contains("script-src"), "no script may run: {policy}");
    }
    (status, text, scripts)
}

/// The opener origin a page posts to (the attribute its script reads).
fn opener_attribute(text: &str) -> Option<&str> {
    text.split("data-opener-origin=\"").nth(1)?.split('"').next()
}

#[tokio::test]
async fn the_loading_page_posts_ready_only_to_an_allowed_opener() {
    let platform = TestPlatform::demo().await;
    let own = own_origin(&platform);
    let answer = platform.http.get(platform.url(&format!("/authorizations/loading?opener_origin={}", encoded(&own))));
    let (status, text, scripts) = page(answer.send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(opener_attribute(&text), Some(own.as_str()));
    assert_eq!(scripts.len(), 1, "{text}");
    assert!(scripts[0].contains("window.opener.postMessage('authWindow:ready', origin)"), "{}", scripts[0]);
    assert!(scripts[0].contains("event.origin !== origin"), "follows only the opener's messages: {}", scripts[0]);

    // A listed web origin is allowed too, as soon as it is listed.
    let listed = "https://app.example";
    let url = platform.url(&format!("/authorizations/loading?opener_origin={}", encoded(listed)));
    assert_eq!(platform.http.get(&url).send().await.unwrap().status(), StatusCode::FORBIDDEN, "not listed yet");
    add_origin(&platform, listed);
    let (status, text, scripts) = page(platform.http.get(&url).send().await.unwrap()).await;
    assert_eq!((status, opener_attribute(&text), scripts.len()), (StatusCode::OK, Some(listed), 1), "{text}");

    let refused = [
        "https://elsewhere.example".to_owned(),
        format!("{listed}/"),
        "http://app.example".to_owned(),
        format!("{own}/"),
        format!("{own}/path"),
        own.replacen("127.0.0.1", "localhost", 1),
        "null".to_owned(),
        "*".to_owned(),
        "javascript:alert(1)".to_owned(),
        format!("{own}\"><script>alert(1)</script>"),
    ];
    for opener in refused.iter().map(|origin| format!("?opener_origin={}", encoded(origin))).chain([String::new()]) {
        let answer = platform.http.get(platform.url(&format!("/authorizations/loading{opener}"))).send().await.unwrap();
        let (status, text, scripts) = page(answer).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{opener}: {text}");
        assert!(scripts.is_empty() && !text.contains("authWindow:ready"), "{opener}: posts nothing: {text}");
    }
}

#[tokio::test]
async fn the_prototype_loading_page_spends_the_one_time_token_and_signs_the_popup_in() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "popup-tenant").await;
    let ott = one_time_token(&platform, &token).await;
    let own = encoded(&own_origin(&platform));
    let url = platform.url(&format!("/authorizations/slack/loading?opener_origin={own}&token={ott}"));

    let popup = browser();
    let first = popup.get(&url).send().await.unwrap();
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(
        cookie.starts_with("xkit_popup=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains(&ott), "the one-time token is spent, not kept");
    let (status, text, scripts) = page(first).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(scripts[0].contains("'authWindow:ready'"));

    // Single use: the same link again (another window, or a replay) is refused, with the
    // reason posted to the opener instead of 'authWindow:ready'.
    let again = browser().get(&url).send().await.unwrap();
    assert!(again.headers().get(SET_COOKIE).is_none());
    let (status, text, scripts) = page(again).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(!text.contains("authWindow:ready") && scripts[0].contains("postMessage({ error:"), "{text}");
    assert!(text.contains("already used"), "{text}");

    let unknown = platform.url(&format!("/authorizations/slack/loading?opener_origin={own}&token=ott_forged"));
    assert_eq!(page(browser().get(unknown).send().await.unwrap()).await.0, StatusCode::UNAUTHORIZED);
    let ott = one_time_token(&platform, &token).await;
    let elsewhere = platform.url(&format!(
        "/authorizations/slack/loading?opener_origin={}&token={ott}",
        encoded("https://elsewhere.example")
    ));
    assert_eq!(page(browser().get(elsewhere).send().await.unwrap()).await.0, StatusCode::FORBIDDEN);
    let no_connector = platform.url(&format!("/authorizations/nope/loading?opener_origin={own}&token={ott}"));
    assert_eq!(page(browser().get(no_connector).send().await.unwrap()).await.0, StatusCode::NOT_FOUND);
    // Refused before the token was looked at: it still signs a popup in.
    let good = platform.url(&format!("/authorizations/slack/loading?opener_origin={own}&token={ott}"));
    assert_eq!(browser().get(good).send().await.unwrap().status(), StatusCode::OK);
}

/// `connect()` as the server sees it: `POST /connections/slack` from the page (whose flow cookie
/// the popup never gets), the popup signed in by the one-time token, the consent and the
/// callback in the popup, which stores `active`, pushes it on the socket and closes the popup.
/// A browser signed in as another context, or not at all, cannot finish the flow.
#[tokio::test]
async fn a_client_api_flow_finishes_in_the_signed_in_popup_and_is_pushed() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "popup-connect").await;
    let (status, answer) = send(
        platform.http.post(platform.url("/api/platform_user/connections/slack")).bearer_auth(&token).json(&json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let authorization = &answer["connection"]["authorization"];
    assert_eq!(authorization["status"], "awaiting_callback");
    let authorize_url = authorization["authorize_url"].as_str().unwrap().to_owned();
    let topic = format!("authorization_status:{}", authorization["id"].as_str().unwrap());

    let socket_url =
        format!("{}/socket/websocket?token={token}&vsn=2.0.0", platform.server.base_url().replacen("http", "ws", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(socket_url).await.unwrap();
    socket.send(Message::text(json!(["3", "3", topic, "phx_join", {}]).to_string())).await.unwrap();
    let joined = next_frame(&mut socket).await;
    assert_eq!(joined[4], json!({"status": "ok", "response": {"status": "awaiting_callback"}}));

    // Someone else's popup, signed in as another context, and a browser not signed in at all.
    let other_token = context_token(&platform, "popup-other").await;
    let intruder = signed_in_popup(&platform, &other_token).await;
    let callback = approve(&platform, &intruder, &authorize_url).await;
    let refused = intruder.get(callback.clone()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN, "another context's popup");
    assert_eq!(browser().get(callback).send().await.unwrap().status(), StatusCode::FORBIDDEN, "no sign-in");

    let popup = signed_in_popup(&platform, &token).await;
    let callback = approve(&platform, &popup, &authorize_url).await;
    let (status, text, scripts) = page(popup.get(callback).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(scripts, ["window.close();"], "the callback closes the popup");

    let mut heard = Vec::new();
    while heard.last().map(String::as_str) != Some("active") {
        assert!(heard.len() < 2, "{heard:?}");
        let push = next_frame(&mut socket).await;
        assert_eq!((&push[0], &push[2], &push[3]), (&json!("3"), &json!(topic), &json!("status_update")), "{push}");
        heard.push(push[4]["status"].as_str().unwrap().to_owned());
    }
    let id = answer["connection"]["id"].as_str().unwrap();
    let request = platform.http.get(platform.url(&format!("/api/platform_user/connection/{id}"))).bearer_auth(&token);
    let (_, connection) = send(request).await;
    assert_eq!(connection["connection"]["authorization"]["status"], "active", "{connection}");
}

/// A popup (a browser of its own) through both loading pages, signed in for `token`'s context.
async fn signed_in_popup(platform: &TestPlatform, token: &str) -> reqwest::Client {
    let popup = browser();
    let own = encoded(&own_origin(platform));
    let first = popup.get(platform.url(&format!("/authorizations/loading?opener_origin={own}"))).send().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let ott = one_time_token(platform, token).await;
    let url = platform.url(&format!("/authorizations/slack/loading?opener_origin={own}&token={ott}"));
    assert_eq!(popup.get(url).send().await.unwrap().status(), StatusCode::OK);
    popup
}

/// Approves the sandbox's consent for `authorize_url` in `popup`; the callback URL it sends back.
async fn approve(platform: &TestPlatform, popup: &reqwest::Client, authorize_url: &str) -> url::Url {
    let consent = popup.get(authorize_url).send().await.unwrap();
    assert_eq!(consent.status(), StatusCode::OK, "the sandbox's consent page");
    let mut form: Vec<(String, String)> = url::Url::parse(authorize_url).unwrap().query_pairs().into_owned().collect();
    form.extend([("subject".into(), "someone".into()), ("decision".into(), "approve".into())]);
    let approved = page_post(popup, platform.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
    let callback = location(&approved).expect("back to the callback");
    assert!(callback.path().ends_with("/catalog/oauth/callback"), "{callback}");
    callback
}

async fn next_frame(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) -> Value {
    loop {
        let message =
            tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("a frame").unwrap().unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}
