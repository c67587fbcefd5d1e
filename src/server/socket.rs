//! The realtime socket xkit.js's `connect()` waits on: a Phoenix-protocol WebSocket at
//! `/socket/websocket?token=<context token>&vsn=2.0.0`, serializer 2.0.0, every frame a JSON
//! text array `[join_ref, ref, topic, event, payload]`.
//!
//! - A browser's `Origin` must be one the platform allows (its own, or listed by `xkit-dash
//!   origins add`), else 403; clients that send none (not browsers) need only the token.
//! - A bad or expired token refuses the upgrade with the Bearer 401 of the client API (the
//!   library then asks `GET /session` whether the token is the problem).
//! - `phoenix` / `heartbeat` is answered `ok`, so the client keeps the socket.
//! - `phx_join` on `authorization_status:<id>` answers the authorization's current `{status}`,
//!   then pushes `status_update` `{status}` (with the join's `join_ref`) whenever its status
//!   changes. An authorization of another context, an unknown one and any other topic are
//!   refused alike (`unmatched topic`), so the socket tells nothing about others' ids.
//! - `phx_leave` is answered `ok` and stops the pushes.
//!
//! A socket takes one connection place under the server's cap, is closed after `IDLE_LIMIT`
//! without a frame from the client (xkit.js sends a heartbeat every 15 s), and ends when the
//! server stops.

use std::collections::HashMap;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::cors::is_allowed_origin;
use super::error::ApiError;
use super::routes::sessions::ContextSession;
use super::state::AppState;
use super::store::{AuthorizationStatusRecord, StoreError};
use super::transport::ServerStop;
use crate::model::AuthorizationStatus;

/// The one serializer xkit.js 3.14.1 (phoenix 1.8) speaks.
const SERIALIZER_VERSION: &str = "2.0.0";
/// A socket without any frame from the client for this long is closed (three heartbeats missed).
const IDLE_LIMIT: Duration = Duration::from_secs(60);
/// The largest frame accepted: joins and heartbeats are a few dozen bytes.
const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Topics one socket may follow at once (xkit.js follows one per `connect()` in progress).
const MAX_TOPICS: usize = 64;
const STATUS_TOPIC_PREFIX: &str = "authorization_status:";
const UNMATCHED_TOPIC: &str = "unmatched topic";

pub fn router() -> Router<AppState> {
    Router::new().route("/socket/websocket", get(upgrade))
}

/// `GET /socket/websocket`: checks the token, then switches to the WebSocket.
async fn upgrade(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    stop: Option<axum::Extension<ServerStop>>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let parameters: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    if parameters.get("vsn").is_some_and(|version| version != SERIALIZER_VERSION) {
        return ApiError::bad_request(format!(
            "unsupported serializer version; this socket speaks vsn={SERIALIZER_VERSION}"
        ))
        .into_response();
    }
    // A browser names the page's origin: only pages the platform allows may open a socket.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("null");
        match is_allowed_origin(&state, origin).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(origin, "refused a realtime socket from a web origin not in the platform's list");
                let message = format!("the web origin {origin} is not allowed on this platform");
                return ApiError::new(StatusCode::FORBIDDEN, message).into_response();
            }
            Err(error) => return ApiError::from(error).into_response(),
        }
    }
    let token = parameters.get("token").map(String::as_str).unwrap_or_default();
    let session = match ContextSession::verify(token, &state).await {
        Ok(session) => session,
        Err(rejection) => return rejection.into_response(),
    };
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => {
            let message = format!("this URL takes a WebSocket (Phoenix, vsn={SERIALIZER_VERSION}): {rejection}");
            return ApiError::new(StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    let stop = stop.map(|axum::Extension(ServerStop(stop))| stop).unwrap_or_default();
    let external_id = session.context.external_id;
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| Channels { state, external_id, joined: HashMap::new() }.serve(socket, stop))
}

/// A topic the client joined: the authorization it follows and the status it last heard.
struct Joined {
    join_ref: Option<String>,
    topic: String,
    last_status: AuthorizationStatus,
}

/// One socket's session: whose it is and what it follows, by authorization id.
struct Channels {
    state: AppState,
    external_id: String,
    joined: HashMap<i64, Joined>,
}

/// A client frame: `[join_ref, ref, topic, event, payload]`.
type Frame = (Option<String>, Option<String>, String, String, Value);

impl Channels {
    async fn serve(mut self, mut socket: WebSocket, stop: CancellationToken) {
        // Subscribed before any join reads a status, so no change after that read is missed.
        let mut changes = self.state.store.subscribe_status_changes();
        tracing::debug!(context = %self.external_id, "realtime socket opened");
        loop {
            let outgoing = tokio::select! {
                () = stop.cancelled() => {
                    let frame = CloseFrame { code: close_code::AWAY, reason: "the server is stopping".into() };
                    let _ = socket.send(Message::Close(Some(frame))).await;
                    break;
                }
                incoming = tokio::time::timeout(IDLE_LIMIT, socket.recv()) => match incoming {
                    Ok(Some(Ok(Message::Text(text)))) => self.answer(text.as_str()).await,
                    Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => break,
                    // Pings are answered by the WebSocket layer; binary frames carry nothing here.
                    Ok(Some(Ok(_))) => Vec::new(),
                    Err(_) => {
                        tracing::debug!(context = %self.external_id, "closing a realtime socket idle for {IDLE_LIMIT:?}");
                        break;
                    }
                },
                change = changes.recv() => match change {
                    Ok(change) => self.updates(Some(&change)).await,
                    // Fell behind: whatever was missed, the current statuses tell.
                    Err(RecvError::Lagged(_)) => self.updates(None).await,
                    Err(RecvError::Closed) => break,
                },
            };
            for message in outgoing {
                if socket.send(message).await.is_err() {
                    return;
                }
            }
        }
        tracing::debug!(context = %self.external_id, "realtime socket closed");
    }

    /// The answers to one client frame (malformed frames are ignored, as Phoenix clients never send them).
    async fn answer(&mut self, text: &str) -> Vec<Message> {
        let Ok((join_ref, reference, topic, event, _payload)) = serde_json::from_str::<Frame>(text) else {
            tracing::debug!(context = %self.external_id, "ignored a frame that is not a Phoenix 2.0.0 array");
            return Vec::new();
        };
        let reply = |status: &str, response: Value| {
            frame(
                join_ref.as_deref(),
                reference.as_deref(),
                &topic,
                "phx_reply",
                json!({"status": status, "response": response}),
            )
        };
        let refused = |reason: &str| reply("error", json!({ "reason": reason }));
        match (topic.as_str(), event.as_str()) {
            ("phoenix", "heartbeat") => vec![reply("ok", json!({}))],
            (_, "phx_join") => {
                let Some(id) = self.followable(&topic).await else {
                    return vec![refused(UNMATCHED_TOPIC)];
                };
                let Ok(current) = id else { return vec![refused("the status cannot be read right now")] };
                if !self.joined.contains_key(&current.authorization_id) && self.joined.len() >= MAX_TOPICS {
                    return vec![refused("too many topics on one socket")];
                }
                let status = current.status.as_str().to_owned();
                let joined = Joined { join_ref: join_ref.clone(), topic: topic.clone(), last_status: current.status };
                self.joined.insert(current.authorization_id, joined);
                vec![reply("ok", json!({ "status": status }))]
            }
            (_, "phx_leave") => {
                self.joined.retain(|_, joined| joined.topic != topic);
                vec![reply("ok", json!({}))]
            }
            _ => Vec::new(),
        }
    }

    /// The authorization a status topic names, if it is this context's: `None` for a topic that
    /// names nothing this socket may follow, `Some(Err)` when the store cannot tell.
    async fn followable(&self, topic: &str) -> Option<Result<AuthorizationStatusRecord, StoreError>> {
        let id = topic.strip_prefix(STATUS_TOPIC_PREFIX)?.parse::<i64>().ok()?;
        match self.state.store.authorization_status(id).await {
            Ok(current) if current.external_id == self.external_id => Some(Ok(current)),
            Ok(_) | Err(StoreError::NotFound(_)) => None,
            Err(error) => {
                tracing::error!(%error, "cannot read an authorization's status for the realtime socket");
                Some(Err(error))
            }
        }
    }

    /// `status_update` pushes for the followed authorizations whose status moved: the one
    /// `change` names, or all of them (`None`) after missed announcements. The status pushed is
    /// read again from the store: announcements committed before a join's read may arrive after
    /// it, and must not take a topic back to an older status.
    async fn updates(&mut self, change: Option<&AuthorizationStatusRecord>) -> Vec<Message> {
        let ids: Vec<i64> = match change {
            Some(change) if self.joined.contains_key(&change.authorization_id) => vec![change.authorization_id],
            Some(_) => return Vec::new(),
            None => self.joined.keys().copied().collect(),
        };
        let mut pushes = Vec::new();
        for id in ids {
            let status = match self.state.store.authorization_status(id).await {
                Ok(current) => current.status,
                Err(StoreError::NotFound(_)) => continue,
                Err(error) => {
                    tracing::error!(%error, "cannot read an authorization's status for the realtime socket");
                    continue;
                }
            };
            let Some(joined) = self.joined.get_mut(&id) else { continue };
            if joined.last_status != status {
                let payload = json!({ "status": status.as_str() });
                pushes.push(frame(joined.join_ref.as_deref(), None, &joined.topic, "status_update", payload));
                joined.last_status = status;
            }
        }
        pushes
    }
}

/// A server frame: `[join_ref, ref, topic, event, payload]`.
fn frame(join_ref: Option<&str>, reference: Option<&str>, topic: &str, event: &str, payload: Value) -> Message {
    Message::Text(json!([join_ref, reference, topic, event, payload]).to_string().into())
}
