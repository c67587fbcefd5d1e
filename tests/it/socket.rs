//! The realtime socket xkit.js's `connect()` waits on (`/socket/websocket`, Phoenix serializer
//! 2.0.0), spoken to by a real WebSocket client over plain HTTP against the in-process demo
//! platform, with status changes made by the real catalog flow and the sandbox provider.

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt as _;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;
use xkit_dash::server::{ConnectionLimits, ServerConfig};

use crate::support::oauth::{browser, location, page_post};
use crate::support::server::{TestPlatform, authorization, send};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for any one frame before failing.
const FRAME_DEADLINE: Duration = Duration::from_secs(10);

/// A new context on `platform` and its context token.
async fn context_token(platform: &TestPlatform, external_id: &str) -> String {
    let (status, created) = platform.create_context(json!({ "external_id": external_id })).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["access_token"].as_str().unwrap().to_owned()
}

fn socket_url(platform: &TestPlatform, query: &str) -> String {
    format!("{}/socket/websocket?{query}", platform.server.base_url().replacen("http://", "ws://", 1))
}

async fn open_socket(platform: &TestPlatform, token: &str) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(socket_url(platform, &format!("token={token}&vsn=2.0.0")))
        .await
        .expect("the socket opens with a good token");
    socket
}

async fn send_frame(socket: &mut Socket, frame: Value) {
    socket.send(Message::text(frame.to_string())).await.expect("frame sent");
}

/// The next text frame, parsed.
async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(FRAME_DEADLINE, socket.next())
            .await
            .expect("a frame within the deadline")
            .expect("the socket stays open")
            .expect("a well-formed frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).expect("a JSON frame");
        }
    }
}

/// An Install started on the catalog for `token`'s context: the browser holding the flow,
/// the provider's consent URL, and the new connection as the Platform API shows it.
async fn start_install(platform: &TestPlatform, token: &str, external_id: &str) -> (reqwest::Client, Url, Value) {
    let browser = browser();
    let started = page_post(&browser, platform.url("/connectors/slack/authorize"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    let consent_url = location(&started).expect("to the sandbox's consent page");
    let (_, listed) = platform.get(&format!("/contexts/{external_id}/connections")).await;
    let id = listed["connections"][0]["id"].as_str().expect("Install created a connection").to_owned();
    let (_, connection) = platform.get(&format!("/connections/{id}")).await;
    assert_eq!(authorization(&connection)["status"], "awaiting_callback", "{connection}");
    (browser, consent_url, connection)
}

/// Answers the sandbox's consent page with `decision` and follows the redirect to the callback.
async fn decide(platform: &TestPlatform, browser: &reqwest::Client, consent_url: &Url, decision: &str) {
    let mut form: Vec<(String, String)> = consent_url.query_pairs().into_owned().collect();
    form.extend([("subject".into(), "someone".into()), ("decision".into(), decision.into())]);
    let decided = page_post(browser, platform.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
    let back = location(&decided).expect("back to the callback");
    browser.get(back).send().await.unwrap();
}

/// The statuses pushed on `topic` up to the first terminal one (`active` or `error`), checking
/// each push's frame: the join's `join_ref`, no `ref`, event `status_update`. On the way only
/// `retrieving_tokens` (the callback took the flow) may come.
async fn statuses_until_terminal(socket: &mut Socket, join_ref: &str, topic: &str) -> Vec<String> {
    let mut heard: Vec<String> = Vec::new();
    while !heard.last().is_some_and(|status| status == "active" || status == "error") {
        assert!(heard.len() < 2, "at most one status before the terminal one: {heard:?}");
        let push = next_frame(socket).await;
        let fields = push.as_array().expect("an array frame");
        assert_eq!(fields[..4], [json!(join_ref), Value::Null, json!(topic), json!("status_update")], "{push}");
        heard.push(push[4]["status"].as_str().expect("a status").to_owned());
    }
    assert!(heard[..heard.len() - 1].iter().all(|status| status == "retrieving_tokens"), "{heard:?}");
    heard
}

fn status_topic(connection: &Value) -> String {
    let id = authorization(connection)["id"].as_str().expect("an authorization id").to_owned();
    format!("authorization_status:{id}")
}

/// The whole exchange `connect()` has with the socket: heartbeat, join answered with the
/// current status, the status pushed (with the join's `join_ref`) once the callback has stored
/// it, and leave.
#[tokio::test]
async fn a_joined_authorization_hears_its_status_change_after_it_is_stored() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "socket-tenant").await;
    let (browser, consent_url, connection) = start_install(&platform, &token, "socket-tenant").await;
    let topic = status_topic(&connection);
    let mut socket = open_socket(&platform, &token).await;

    send_frame(&mut socket, json!([null, "1", "phoenix", "heartbeat", {}])).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!([null, "1", "phoenix", "phx_reply", {"status": "ok", "response": {}}])
    );
    send_frame(&mut socket, json!(["3", "3", topic, "phx_join", {}])).await;
    assert_eq!(
        next_frame(&mut socket).await,
        json!(["3", "3", topic, "phx_reply", {"status": "ok", "response": {"status": "awaiting_callback"}}])
    );

    decide(&platform, &browser, &consent_url, "approve").await;
    let heard = statuses_until_terminal(&mut socket, "3", &topic).await;
    assert_eq!(heard.last().map(String::as_str), Some("active"), "{heard:?}");
    let id = connection["connection"]["id"].as_str().unwrap();
    let (_, stored) = platform.get(&format!("/connections/{id}")).await;
    assert_eq!(authorization(&stored)["status"], "active", "stored before it is pushed");

    send_frame(&mut socket, json!(["3", "4", topic, "phx_leave", {}])).await;
    assert_eq!(next_frame(&mut socket).await, json!(["3", "4", topic, "phx_reply", {"status": "ok", "response": {}}]));
}

/// A denied consent is pushed as `error`, the terminal status `connect()` turns into its error.
#[tokio::test]
async fn a_denied_consent_is_pushed_as_error() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "socket-denied").await;
    let (browser, consent_url, connection) = start_install(&platform, &token, "socket-denied").await;
    let topic = status_topic(&connection);
    let mut socket = open_socket(&platform, &token).await;
    send_frame(&mut socket, json!(["7", "7", topic, "phx_join", {}])).await;
    assert_eq!(next_frame(&mut socket).await[4]["response"]["status"], "awaiting_callback");

    decide(&platform, &browser, &consent_url, "deny").await;
    let heard = statuses_until_terminal(&mut socket, "7", &topic).await;
    assert_eq!(heard.last().map(String::as_str), Some("error"), "{heard:?}");
}

/// A socket follows only its own context's authorizations: another context's, an unknown id
/// and any other topic get the same refusal, and a refused topic is never pushed to.
#[tokio::test]
async fn another_contexts_authorization_and_other_topics_are_refused() {
    let platform = TestPlatform::demo().await;
    let owner_token = context_token(&platform, "socket-owner").await;
    let (browser, consent_url, connection) = start_install(&platform, &owner_token, "socket-owner").await;
    let topic = status_topic(&connection);
    let intruder_token = context_token(&platform, "socket-intruder").await;
    let mut socket = open_socket(&platform, &intruder_token).await;

    for (reference, refused_topic) in [
        ("1", topic.as_str()),
        ("2", "authorization_status:999999"),
        ("3", "authorization_status:x"),
        ("4", "room:lobby"),
    ] {
        send_frame(&mut socket, json!([reference, reference, refused_topic, "phx_join", {}])).await;
        assert_eq!(
            next_frame(&mut socket).await,
            json!([reference, reference, refused_topic, "phx_reply", {"status": "error", "response": {"reason": "unmatched topic"}}])
        );
    }

    decide(&platform, &browser, &consent_url, "approve").await;
    let id = connection["connection"]["id"].as_str().unwrap();
    let (_, stored) = platform.get(&format!("/connections/{id}")).await;
    assert_eq!(authorization(&stored)["status"], "active");
    // The change is committed and announced before the callback answers; a heartbeat sent after
    // it is answered, and nothing about the other context's authorization comes with it.
    for reference in ["10", "11", "12"] {
        send_frame(&mut socket, json!([null, reference, "phoenix", "heartbeat", {}])).await;
        let frame = next_frame(&mut socket).await;
        assert_eq!(frame, json!([null, reference, "phoenix", "phx_reply", {"status": "ok", "response": {}}]));
    }
}

/// Without a good token the upgrade is refused with the client API's Bearer 401 (xkit.js then
/// asks `GET /session`); an unknown serializer version is refused too.
#[tokio::test]
async fn bad_tokens_and_serializer_versions_are_refused_before_the_upgrade() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "socket-tokens").await;
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for query in ["vsn=2.0.0".to_owned(), "token=not-a-jwt&vsn=2.0.0".to_owned(), format!("token={tampered}&vsn=2.0.0")]
    {
        let refusal = tokio_tungstenite::connect_async(socket_url(&platform, &query)).await.expect_err(&query);
        let tungstenite::Error::Http(response) = refusal else { panic!("{query}: {refusal}") };
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED.as_u16(), "{query}");
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{query}");
    }
    let refusal = tokio_tungstenite::connect_async(socket_url(&platform, &format!("token={token}&vsn=1.0.0")))
        .await
        .expect_err("vsn 1.0.0");
    let tungstenite::Error::Http(response) = refusal else { panic!("{refusal}") };
    assert_eq!(response.status(), StatusCode::BAD_REQUEST.as_u16());

    // The same token, good, opens the socket.
    let mut socket = open_socket(&platform, &token).await;
    send_frame(&mut socket, json!([null, "1", "phoenix", "heartbeat", {}])).await;
    assert_eq!(next_frame(&mut socket).await[4]["status"], "ok");
}

/// A socket is a connection like any other under the server's cap (it keeps its place after
/// the upgrade), and it is closed, "going away", when the server stops.
#[tokio::test]
async fn a_socket_holds_its_connection_place_and_is_closed_when_the_server_stops() {
    let one_place = ConnectionLimits { max_connections: 1, ..ConnectionLimits::default() };
    let platform = TestPlatform::with(|config| ServerConfig { demo: true, limits: one_place, ..config }).await;
    // A client that closes its connection after each answer, so that it does not keep the place.
    let closing = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let create = closing
        .post(platform.platform_url("/context"))
        .basic_auth(&platform.keys.publishable_key, Some(platform.secret()))
        .json(&json!({"context": {"external_id": "socket-cap"}}));
    let (status, created) = send(create).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let url = socket_url(&platform, &format!("token={}&vsn=2.0.0", created["access_token"].as_str().unwrap()));
    // The closed connection leaves its place a moment after its answer: a few tries, bounded.
    let mut opened = None;
    for _ in 0..40 {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((socket, _)) => {
                opened = Some(socket);
                break;
            }
            Err(tungstenite::Error::Http(refused)) if refused.status() == 503 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => panic!("{error}"),
        }
    }
    let mut socket = opened.expect("the socket opens once the place is free");

    // The cap answers a new connection at once, before its request, so a raw one reads it.
    let mut another = TcpStream::connect(platform.server.addr).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(FRAME_DEADLINE, another.read_to_end(&mut answer)).await.expect("answered").unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "the socket holds the only place: {answer}");

    platform.server.shutdown().await;
    let closed = tokio::time::timeout(FRAME_DEADLINE, socket.next()).await.expect("closed within the deadline");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Away),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

/// A browser names the page's origin: a page of an origin the platform does not allow cannot
/// open a socket, even with a good token; a listed one can.
#[tokio::test]
async fn a_page_of_an_origin_not_allowed_cannot_open_a_socket() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "socket-origins").await;
    let from = |origin: &str| {
        let mut request = socket_url(&platform, &format!("token={token}&vsn=2.0.0")).into_client_request().unwrap();
        request.headers_mut().insert("origin", origin.parse().unwrap());
        request
    };
    let refusal = tokio_tungstenite::connect_async(from("https://app.example")).await.expect_err("not listed");
    let tungstenite::Error::Http(response) = refusal else { panic!("{refusal}") };
    assert_eq!(response.status(), StatusCode::FORBIDDEN.as_u16());

    crate::connect_popup::add_origin(&platform, "https://app.example");
    let (mut socket, _) = tokio_tungstenite::connect_async(from("https://app.example")).await.expect("listed");
    send_frame(&mut socket, json!([null, "1", "phoenix", "heartbeat", {}])).await;
    assert_eq!(next_frame(&mut socket).await[4]["status"], "ok");
}
