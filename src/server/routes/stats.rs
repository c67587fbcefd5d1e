//! `/stats` (extension): the platform's totals per health and per connector, from counters the
//! store keeps with every change, so the answer costs the same at any size.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use crate::model::PlatformStats;
use crate::server::error::ApiError;
use crate::server::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/stats", get(stats))
}

async fn stats(State(state): State<AppState>) -> Result<Json<PlatformStats>, ApiError> {
    Ok(Json(state.store.stats().await?))
}
