//! The HTTP surface, assembled in two families. API routes (JSON, machine clients) answer every
//! error as `{"error": ...}`; HTML routes (the catalog's and the sandbox's pages, for browsers)
//! answer every error with a page and refuse cross-site form posts. Every response says
//! `X-Content-Type-Options: nosniff`.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, Request, StatusCode, Uri, header};
use axum::middleware;
use axum::response::{IntoResponse as _, Response};
use tower_http::trace::TraceLayer;

use super::error::ApiError;
use super::html::HtmlError;
use super::state::AppState;
use super::transport::{self, MAX_BODY_BYTES};
use super::{catalog, cors, routes, same_origin, sandbox, socket};

pub fn router(state: AppState, body_timeout: Duration) -> Router {
    let api = Router::new()
        .nest("/api/platform", routes::platform(state.clone()))
        .nest("/api/platform_user", routes::platform_user(state.clone()))
        .merge(sandbox::api_router())
        .merge(socket::router())
        .method_not_allowed_fallback(method_not_allowed);
    let pages = Router::new()
        .merge(catalog::router())
        .merge(sandbox::page_router())
        .method_not_allowed_fallback(html_method_not_allowed)
        .route_layer(middleware::from_fn(act_as_catalog))
        .route_layer(middleware::from_fn_with_state(state.clone(), same_origin::refuse_cross_site_writes));
    Router::new()
        .merge(api)
        .merge(pages)
        .fallback(unknown_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(body_timeout, transport::receive_body_within))
        .layer(middleware::from_fn_with_state(state.clone(), cors::platform_user_cors))
        .layer(middleware::map_response(no_sniff))
        // Spans carry method and path only: never headers (Authorization), bodies, or the query,
        // which holds catalog link tokens and OAuth codes and states.
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
            tracing::debug_span!("request", method = %request.method(), path = request.uri().path())
        }))
        .with_state(state)
}

/// The catalog's and sandbox's pages write as `catalog` (the events' actor).
async fn act_as_catalog(request: Request<Body>, next: middleware::Next) -> Response {
    super::store::actor::acting_as("catalog".to_owned(), next.run(request)).await
}

/// Paths of the HTML family, where an unknown page gets a page too.
const HTML_PREFIXES: [&str; 4] = ["/connectors/", "/catalog/", "/sandbox", "/authorizations/"];

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
