//! `/connections`: the bulk listing across contexts, reads by id, and forced refresh.

use std::str::FromStr as _;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{ApiPath, ApiQuery};
use super::{AppState, ConnectionResponse, page_request};
use crate::model::{ConnectionsPage, Health};
use crate::server::auth::ApiKey;
use crate::server::error::ApiError;
use crate::server::store::ConnectionFilter;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/connections", get(list_connections))
        .route("/connections/{id}", get(get_connection))
        .route("/connections/{id}/refresh", post(refresh_connection))
}

#[derive(Deserialize)]
struct ListConnectionsQuery {
    /// A health word (`active`, `pending`, `unknown`, `error`, `disabled`).
    status: Option<String>,
    connector: Option<String>,
    context: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list_connections(
    _key: ApiKey,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListConnectionsQuery>,
) -> Result<Json<ConnectionsPage>, ApiError> {
    let health = query.status.as_deref().filter(|status| !status.is_empty()).map(Health::from_str).transpose();
    let health = match health.map_err(ApiError::bad_request)? {
        Some(Health::NotInstalled) => {
            return Err(ApiError::bad_request("status not_installed describes the absence of a connection"));
        }
        health => health,
    };
    let non_empty = |value: Option<String>| value.filter(|value| !value.is_empty());
    let filter = ConnectionFilter { health, connector: non_empty(query.connector), context: non_empty(query.context) };
    let page = state.store.list_connections(filter, page_request(query.limit, query.cursor)?).await?;
    Ok(Json(ConnectionsPage { connections: page.items, next_cursor: page.next_cursor }))
}

/// Get Connection by ID, with its credential when active.
async fn get_connection(
    _key: ApiKey,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(state.store.connection_by_id(id).await?.into()))
}

/// Forced refresh arrives with the token-lifecycle work; until then the route says so.
async fn refresh_connection(
    _key: ApiKey,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    state.store.connection_by_id(id).await?;
    Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, "token refresh is not implemented by this server yet"))
}
