//! CORS for the Platform User API (`/api/platform_user/*`), which xkit.js calls from pages on
//! other origins with credentials and a custom header (`Xkit-Js-Version`), so that every call
//! is preflighted.
//!
//! - A page origin in the platform's list (`xkit-dash origins`) gets, on the preflight, a 204
//!   naming it exactly (never `*`: credentials are included) with the methods and headers the
//!   library sends, and, on every actual answer (errors included: a 401 or 404 without them
//!   reaches the library as a network failure), `Access-Control-Allow-Origin` +
//!   `Access-Control-Allow-Credentials`.
//! - Any other origin gets no CORS header (the browser then refuses the answer) and a log line
//!   naming it; its requests are not run at all, so a cross-site form that needs no preflight
//!   cannot act with the session cookie either.
//! - Requests without `Origin`, or from the server's own origin (its pages), pass untouched.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::error::ApiError;
use super::state::AppState;
use super::store::StoreResult;

/// The API the layer covers.
const PREFIX: &str = "/api/platform_user";
/// Every method the Platform User API has.
const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE";
/// What xkit.js sends (lower case, as Chromium lists them in the preflight).
const ALLOWED_HEADERS: &str = "authorization, content-type, xkit-js-version, accept";
/// Browsers keep a preflight answer this long (seconds; Chromium caps it at 7200).
const PREFLIGHT_MAX_AGE: &str = "600";

/// The middleware, layered on the whole router (so that unknown routes, 405s and body errors
/// under the prefix carry the headers too).
pub async fn platform_user_cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let covered = path.strip_prefix(PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
    let Some(origin) = covered.then(|| request_origin(request.headers())).flatten() else {
        return next.run(request).await;
    };
    if is_own_origin(&state, &origin) {
        return next.run(request).await;
    }
    let allowed = match state.store.is_web_origin(origin.clone()).await {
        Ok(allowed) => allowed,
        Err(error) => return ApiError::from(error).into_response(),
    };
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if !allowed {
        tracing::warn!(
            origin,
            path = request.uri().path(),
            "refused a browser request from a web origin not in the platform's list \
             (allow it with: xkit-dash origins add {origin})"
        );
        let mut refusal =
            ApiError::new(StatusCode::FORBIDDEN, format!("the web origin {origin} is not allowed on this platform"))
                .into_response();
        refusal.headers_mut().insert(header::VARY, HeaderValue::from_static("Origin"));
        return refusal;
    }
    let Ok(origin) = HeaderValue::from_str(&origin) else {
        return next.run(request).await;
    };
    let mut response = if preflight {
        let mut response = StatusCode::NO_CONTENT.into_response();
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(ALLOWED_METHODS));
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(ALLOWED_HEADERS));
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(PREFLIGHT_MAX_AGE));
        response
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}

/// Whether `origin` is this server's own (its pages need no list).
fn is_own_origin(state: &AppState, origin: &str) -> bool {
    let urls = state.refresher.provider().urls();
    [&urls.public, &urls.internal].iter().any(|own| own.origin().ascii_serialization() == origin)
}

/// Whether pages of `origin` may use this platform from a browser: this server's own, or one
/// in the platform's list. Also the rule of the connect popup's opener and the realtime socket.
pub async fn is_allowed_origin(state: &AppState, origin: &str) -> StoreResult<bool> {
    Ok(is_own_origin(state, origin) || state.store.is_web_origin(origin.to_owned()).await?)
}

/// The page's origin, when the request names one (`null`, from a sandboxed frame, is kept: it
/// is in no list, so it is refused).
fn request_origin(headers: &HeaderMap) -> Option<String> {
    headers.get(header::ORIGIN).map(|origin| origin.to_str().unwrap_or("null").to_owned())
}
