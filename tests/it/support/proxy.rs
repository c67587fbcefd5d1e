//! A reverse proxy in front of the real server that answers 404 to the bulk
//! `GET /connections` extension, like a server that only speaks Xkit's own API. Its quirks
//! make the per-context fan-out observable: small contexts pages held back until a per-context
//! listing was answered (only a fan-out that starts while contexts page in gets them at once),
//! the most per-context requests in flight at once, and a context whose listing fails.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::sync::watch;

/// How long a held contexts page waits for a per-context answer before giving up on it.
const HOLD_LIMIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct Quirks {
    /// Serve contexts this many per page, whatever the client asks, and hold every page after
    /// the first until some context's connections have been answered.
    pub contexts_per_page: Option<u32>,
    /// Answer 500 to this context's connections listing.
    pub failing_context: Option<String>,
}

pub struct XkitWithoutExtensions {
    pub url: String,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    http: reqwest::Client,
    quirks: Quirks,
    refused: AtomicUsize,
    held: AtomicUsize,
    held_too_long: AtomicUsize,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
    answered: watch::Sender<usize>,
}

impl XkitWithoutExtensions {
    pub async fn start(upstream: String) -> Self {
        Self::with(upstream, Quirks::default()).await
    }

    pub async fn with(upstream: String, quirks: Quirks) -> Self {
        let shared = Arc::new(Shared {
            upstream,
            http: reqwest::Client::new(),
            quirks,
            refused: AtomicUsize::new(0),
            held: AtomicUsize::new(0),
            held_too_long: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
            answered: watch::Sender::new(0),
        });
        let app = axum::Router::new().fallback(forward).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, shared }
    }

    pub fn refused_bulk_requests(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    /// Contexts pages held back, and of those, the ones no per-context answer released.
    pub fn held_pages(&self) -> (usize, usize) {
        (self.shared.held.load(Ordering::SeqCst), self.shared.held_too_long.load(Ordering::SeqCst))
    }

    /// The most per-context connections requests the proxy had in flight at once.
    pub fn max_per_context_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }
}

async fn forward(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    if path == "/api/platform/connections" {
        shared.refused.fetch_add(1, Ordering::SeqCst);
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "not found"}))).into_response();
    }
    // Xkit kept no event history, and no counters.
    if path.starts_with("/api/platform/events") || path.starts_with("/api/platform/stats") {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"error": "not found"}))).into_response();
    }
    let mut query = request.uri().query().unwrap_or_default().to_owned();
    if path == "/api/platform/contexts"
        && let Some(per_page) = shared.quirks.contexts_per_page
    {
        // After one page waited in vain, the rest go through: a failing test stays quick.
        if query.contains("cursor=") && shared.held_too_long.load(Ordering::SeqCst) == 0 {
            shared.held.fetch_add(1, Ordering::SeqCst);
            let mut answered = shared.answered.subscribe();
            let released = tokio::time::timeout(HOLD_LIMIT, answered.wait_for(|n| *n > 0)).await;
            if released.is_err() {
                shared.held_too_long.fetch_add(1, Ordering::SeqCst);
            }
        }
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(key, _)| key != "limit")
            .map(|(key, value)| (key.into_owned(), value.into_owned()))
            .collect();
        query = url::form_urlencoded::Serializer::new(format!("limit={per_page}")).extend_pairs(pairs).finish();
    }
    let per_context = path.starts_with("/api/platform/contexts/") && path.ends_with("/connections");
    if per_context
        && let Some(failing) = &shared.quirks.failing_context
        && path == format!("/api/platform/contexts/{failing}/connections")
    {
        return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"error": "this context is broken"})))
            .into_response();
    }
    if per_context {
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    }
    let response = pass_through(&shared.http, format!("{}{path}?{query}", shared.upstream), request).await;
    if per_context {
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        shared.answered.send_modify(|answered| *answered += 1);
    }
    response
}

/// Sends `request` on to `url` (its method, headers but `Host`, and body) and answers with the
/// upstream's status, content type and body.
pub async fn pass_through(http: &reqwest::Client, url: String, request: Request) -> Response {
    let mut outgoing = http.request(request.method().clone(), url);
    for (name, value) in request.headers() {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap();
    let answer = outgoing.body(body).send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let content_type = answer.headers().get("content-type").cloned();
    let bytes = answer.bytes().await.unwrap();
    let mut response = (status, bytes).into_response();
    if let Some(content_type) = content_type {
        response.headers_mut().insert("content-type", content_type);
    }
    response
}
