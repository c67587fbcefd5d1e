//! The context-token side of the Platform User API and xkit.js's session:
//! - `GET /session` (Bearer), which xkit.js calls to tell a refused token from a network failure;
//! - `POST /sessions` (Bearer), `login()`: answers the session and sets the session cookie
//!   (`session_cookie`), which holds the context token;
//! - `POST /sessions/token` (the cookie alone), at page start-up and on refresh:
//!   `{"access_token"}`, a fresh context token for the session's context, or 401 without a
//!   session;
//! - `DELETE /sessions`, `logout()`: 204 and the cookie cleared, with or without a session.
//!
//! Every route that takes a context token ([`ContextSession`]) takes it from
//! `Authorization: Bearer`, or else from the session cookie.

use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, SET_COOKIE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::AppendHeaders;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use serde::Serialize;

use crate::model::Context;
use crate::server::error::ApiError;
use crate::server::session_cookie;
use crate::server::state::AppState;
use crate::server::store::StoreError;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/session", get(session))
        .route("/sessions", post(create_session).delete(end_session))
        .route("/sessions/token", post(session_token))
}

/// Proof that the request carried a valid context token whose context still exists.
pub struct ContextSession {
    pub context: Context,
    pub expires_at: DateTime<Utc>,
    /// The verified token, which `POST /sessions` puts in the session cookie.
    token: String,
}

/// Why a Bearer token was refused: our JSON error, with a Bearer challenge (RFC 6750) instead
/// of the Platform API's Basic one.
pub struct BearerRejection(ApiError);

impl BearerRejection {
    fn unauthorized(message: &str) -> Self {
        Self(ApiError::new(StatusCode::UNAUTHORIZED, message))
    }
}

impl IntoResponse for BearerRejection {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        if response.status() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"xkit platform_user\", error=\"invalid_token\""),
            );
        }
        response
    }
}

impl FromRequestParts<AppState> for ContextSession {
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = context_token(&parts.headers).ok_or_else(|| {
            BearerRejection::unauthorized("missing context token (Authorization: Bearer <token>, or a session cookie)")
        })?;
        ContextSession::verify(token, state).await
    }
}

impl ContextSession {
    /// Checks a context token however it came (a header, the session cookie, the realtime socket's URL).
    pub async fn verify(token: &str, state: &AppState) -> Result<Self, BearerRejection> {
        let claims = state.tokens.verify(token).map_err(|error| {
            let expired = error
                .downcast_ref::<jsonwebtoken::errors::Error>()
                .is_some_and(|error| *error.kind() == ErrorKind::ExpiredSignature);
            BearerRejection::unauthorized(if expired {
                "the context token has expired"
            } else {
                "invalid context token (forged, malformed, or minted for another platform)"
            })
        })?;
        // A token outlives a renamed or removed context: it must not log in as nobody.
        let context = state.store.context(claims.external_id).await.map_err(|error| match error {
            StoreError::NotFound(_) => BearerRejection::unauthorized("the context of this token no longer exists"),
            error => BearerRejection(error.into()),
        })?;
        let expires_at = DateTime::from_timestamp(claims.exp, 0).unwrap_or(DateTime::<Utc>::MAX_UTC);
        Ok(Self { context, expires_at, token: token.to_owned() })
    }
}

/// Runs a Platform User API request (xkit.js's) as `client:<external_id>` of its context
/// token, the `actor` of the events its writes produce. A request without a valid token runs
/// as nobody: its handler refuses it anyway.
pub async fn act_as_context_client(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let claims = context_token(request.headers()).and_then(|token| state.tokens.verify(token).ok());
    match claims {
        Some(claims) => {
            let actor = format!("client:{}", claims.external_id);
            crate::server::store::actor::acting_as(actor, next.run(request)).await
        }
        None => next.run(request).await,
    }
}

/// The session of the cookie alone (`POST /sessions/token`: a Bearer header is not a session).
pub struct CookieSession(ContextSession);

impl FromRequestParts<AppState> for CookieSession {
    type Rejection = BearerRejection;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = session_cookie::token(&parts.headers)
            .ok_or_else(|| BearerRejection::unauthorized("no session (log in with POST /sessions first)"))?;
        Ok(Self(ContextSession::verify(token, state).await?))
    }
}

/// The context token of a request: `Authorization: Bearer`, else the session cookie.
fn context_token(headers: &HeaderMap) -> Option<&str> {
    bearer_token(headers).or_else(|| session_cookie::token(headers))
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let header = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `{"context": {...}, "expires_at": "..."}`: who the token speaks for, and until when.
#[derive(Serialize)]
struct SessionResponse {
    context: Context,
    expires_at: DateTime<Utc>,
}

impl From<ContextSession> for SessionResponse {
    fn from(session: ContextSession) -> Self {
        Self { context: session.context, expires_at: session.expires_at }
    }
}

/// `GET /session`: 200 while the token is good, 401 otherwise.
async fn session(session: ContextSession) -> Json<SessionResponse> {
    Json(session.into())
}

/// `POST /sessions`: logs in with a context token and keeps it in the session cookie, until
/// the token expires.
async fn create_session(State(state): State<AppState>, session: ContextSession) -> impl IntoResponse {
    let cookie = session_cookie::set(state.refresher.provider().urls(), &session.token, session.expires_at);
    (AppendHeaders([(SET_COOKIE, cookie)]), Json(SessionResponse::from(session)))
}

#[derive(Serialize)]
struct AccessTokenResponse {
    access_token: String,
}

/// `POST /sessions/token`: a fresh context token for the cookie's session.
async fn session_token(
    State(state): State<AppState>,
    CookieSession(session): CookieSession,
) -> Result<Json<AccessTokenResponse>, ApiError> {
    let access_token = state
        .tokens
        .mint(&session.context.external_id)
        .map_err(|error| ApiError::internal("cannot mint a context token", error))?;
    Ok(Json(AccessTokenResponse { access_token }))
}

/// `DELETE /sessions`: ends the session in this browser (204 whether or not there was one).
/// The token the cookie held stays valid until it expires, as every context token does.
async fn end_session(State(state): State<AppState>) -> impl IntoResponse {
    (StatusCode::NO_CONTENT, AppendHeaders([(SET_COOKIE, session_cookie::clear(state.refresher.provider().urls()))]))
}
