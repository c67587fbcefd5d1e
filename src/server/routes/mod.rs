//! The HTTP surface: one router per resource, assembled here in two families. API routes
//! (JSON, machine clients) answer every error as `{"error": ...}`; HTML routes (the catalog's
//! and the sandbox's pages, for browsers) answer every error with a page and refuse
//! cross-site form posts. Every response says `X-Content-Type-Options: nosniff`.

mod connections;
mod connectors;
mod contexts;
pub(super) mod extract;
mod legacy;
mod public;
mod same_origin;
mod sessions;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use tower_http::trace::TraceLayer;

use super::auth::KeyCache;
use super::error::ApiError;
use super::html::HtmlError;
use super::refresh::Refresher;
use super::store::{PageRequest, Store};
use super::tokens::TokenSigner;
use crate::model::{Authorization, Connection, Connector};

/// The largest request body accepted (a context with generous custom attributes fits easily).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Page size when a list request names none, and the most a request may ask for.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub tokens: Arc<TokenSigner>,
    pub keys: Arc<KeyCache>,
    pub refresher: Arc<Refresher>,
    /// Lifetime of the catalog links `repair_link` mints.
    pub repair_link_ttl: Duration,
}

pub fn router(state: AppState, body_timeout: Duration) -> Router {
    let platform = Router::new()
        .merge(contexts::router())
        .merge(connections::router())
        .merge(connectors::router())
        .merge(legacy::router());
    let api = Router::new()
        .nest("/api/platform", platform)
        .nest("/api/platform_user", public::router().merge(sessions::router()))
        .merge(super::sandbox::api_router())
        .method_not_allowed_fallback(method_not_allowed);
    let pages = Router::new()
        .merge(super::catalog::router())
        .merge(super::sandbox::page_router())
        .method_not_allowed_fallback(html_method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state.clone(), same_origin::refuse_cross_site_writes));
    Router::new()
        .merge(api)
        .merge(pages)
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(body_timeout, super::transport::receive_body_within))
        .layer(middleware::map_response(no_sniff))
        // Spans carry method and path only: never headers (Authorization), bodies, or the query,
        // which holds catalog link tokens and OAuth codes and states.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
            tracing::debug_span!("request", method = %request.method(), path = request.uri().path())
        }))
        .with_state(state)
}

/// Paths of the HTML family, where an unknown page gets a page too.
const HTML_PREFIXES: [&str; 3] = ["/connectors/", "/catalog/", "/sandbox"];

async fn unknown_route(uri: Uri) -> Response {
    let path = uri.path();
    if HTML_PREFIXES.iter().any(|prefix| path.starts_with(prefix)) {
        HtmlError::new(StatusCode::NOT_FOUND, "Page not found", "This server has no such page.").into_response()
    } else {
        ApiError::not_found(format!("no route for {path}")).into_response()
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed on {}", uri.path()))
}

async fn html_method_not_allowed(method: Method) -> HtmlError {
    HtmlError::new(StatusCode::METHOD_NOT_ALLOWED, "Method not allowed", format!("This page does not take {method}."))
}

/// No response is ever sniffed into another type (a JSON error rendered as HTML, say).
async fn no_sniff(mut response: Response) -> Response {
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `limit` and `cursor` of the list routes that take nothing else.
#[derive(Deserialize)]
struct PageQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

impl PageQuery {
    fn page(self) -> Result<PageRequest, ApiError> {
        page_request(self.limit, self.cursor)
    }
}

/// `limit` and `cursor` of every list route.
fn page_request(limit: Option<usize>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(ApiError::bad_request("limit must be between 1 and 1000")),
        Some(limit) => limit.min(MAX_LIMIT),
    };
    Ok(PageRequest { limit, cursor: cursor.filter(|cursor| !cursor.is_empty()) })
}

/// The answer of every single-connection route: `{"connection": {...}}`, plus `connector` and
/// `authorization` echoed at the top level, where seed 002's example destructures them.
#[derive(Serialize)]
struct ConnectionResponse {
    connection: Connection,
    connector: Connector,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization: Option<Authorization>,
}

impl From<Connection> for ConnectionResponse {
    fn from(connection: Connection) -> Self {
        Self { connector: connection.connector.clone(), authorization: connection.authorization.clone(), connection }
    }
}
