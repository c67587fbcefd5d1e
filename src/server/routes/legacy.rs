//! The pre-Contexts routes (seeds 001 and 004), answered from the same contexts: users and
//! groups are contexts with the same external ids.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::contexts::{get_connection, mint, validated};
use crate::model::Context;
use crate::server::error::ApiError;
use crate::server::extract::ApiJson;
use crate::server::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/users", post(provision_user))
        .route("/users/{external_id}/connections/{connector_slug}", get(get_connection))
        .route("/groups/{external_id}/connections/{connector_slug}", get(get_connection))
        // Seed 004's oldest form. `{id}` shares its name with `/connections/{id}` (one router tree).
        .route("/connections/{id}/{connector_slug}", get(get_connection))
}

/// `{"user": {"external_id": ..., "external_group_id": ...}}`; other keys become attributes.
#[derive(Deserialize)]
struct ProvisionUserRequest {
    user: Context,
}

#[derive(Serialize)]
struct ProvisionUserResponse {
    access_token: String,
}

/// Provision Platform User: the user becomes (or updates) a context; a named group becomes a
/// context too, so `/groups/:id/...` finds it.
async fn provision_user(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ProvisionUserRequest>,
) -> Result<Json<ProvisionUserResponse>, ApiError> {
    let user = request.user;
    validated(&user)?;
    let group = match user.attributes.get("external_group_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(group_id)) => {
            let group = Context::new(group_id.clone());
            validated(&group).map_err(|_| ApiError::unprocessable("external_group_id is not a valid external id"))?;
            Some(group)
        }
        Some(_) => return Err(ApiError::unprocessable("external_group_id must be a string")),
    };
    let user = state.store.upsert_contexts(group.into_iter().chain([user]).collect()).await?;
    let access_token = mint(&state, &user.external_id)?;
    Ok(Json(ProvisionUserResponse { access_token }))
}
