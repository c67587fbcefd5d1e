//! The context-token side of the Platform User API: `GET /session`, which xkit.js calls to tell
//! a refused token from a network failure, and `POST /sessions`, its login call. Both take
//! `Authorization: Bearer <context token>`.
//!
//! Not implemented: the cookie session `POST /sessions` sets in Xkit (and the cookie-authenticated
//! routes built on it). `POST /sessions` checks the token and answers the session as JSON, but
//! sets no cookie, so a client has to send the Bearer token with every request.

use axum::extract::FromRequestParts;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use serde::Serialize;

use crate::model::Context;
use crate::server::error::ApiError;
use crate::server::state::AppState;
use crate::server::store::StoreError;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/session", get(session)).route("/sessions", post(create_session))
}

/// Proof that the request carried a valid context token whose context still exists.
pub struct ContextSession {
    pub context: Context,
    pub expires_at: DateTime<Utc>,
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
        let token = bearer_token(parts)
            .ok_or_else(|| BearerRejection::unauthorized("missing context token (Authorization: Bearer <token>)"))?;
        Self::from_token(state, token).await
    }
}

impl ContextSession {
    /// Checks a context token however it came (the realtime socket takes it in its URL).
    pub async fn from_token(state: &AppState, token: &str) -> Result<Self, BearerRejection> {
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
        Ok(Self { context, expires_at })
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let header = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
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

/// `POST /sessions`: logs in with a context token (no cookie is set; see the module documentation).
async fn create_session(session: ContextSession) -> Json<SessionResponse> {
    Json(session.into())
}
