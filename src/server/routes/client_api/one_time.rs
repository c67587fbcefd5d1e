//! `POST /sessions/ott`: a one-time token naming the caller's context, which xkit.js's connect
//! popup presents (`/authorizations/:proto/loading?token=<ott>`) instead of the context token,
//! so the long-lived token never appears in a URL. Single use, short-lived, stored hashed.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use serde::Serialize;

use super::super::sessions::ContextSession;
use crate::server::error::ApiError;
use crate::server::secret::{random_token, secret_hash};
use crate::server::state::AppState;

/// How long a one-time token can be spent: the popup presents it a moment after it is minted.
pub const ONE_TIME_TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// One-time tokens start with this, so they are told apart from context tokens at a glance.
pub const ONE_TIME_TOKEN_PREFIX: &str = "ott_";

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/sessions/ott", post(mint))
}

#[derive(Serialize)]
struct OneTimeToken {
    ott: String,
}

async fn mint(session: ContextSession, State(state): State<AppState>) -> Result<Json<OneTimeToken>, ApiError> {
    let ott = format!("{ONE_TIME_TOKEN_PREFIX}{}", random_token(32));
    let expires_at = Utc::now() + ONE_TIME_TOKEN_TTL;
    state.store.add_one_time_token(secret_hash(&ott), session.context.external_id, expires_at).await?;
    Ok(Json(OneTimeToken { ott }))
}
