//! `/connections`: the bulk listing across contexts, reads by id, and forced refresh.

use std::str::FromStr as _;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::connection_response::ConnectionResponse;
use super::paging::page_request;
use crate::model::{Authorization, Connection, ConnectionFilter, ContextRef, Health};
use crate::server::error::ApiError;
use crate::server::extract::{ApiPath, ApiQuery};
use crate::server::refresh::RefreshOutcome;
use crate::server::state::AppState;

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
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListConnectionsQuery>,
) -> Result<Response, ApiError> {
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
    let connections = page.items.iter().map(ListedConnection::from).collect();
    Ok(Json(ListedPage { connections, next_cursor: page.next_cursor }).into_response())
}

/// A page of the bulk listing. Its connections name their connector by `name` and `slug` only:
/// a platform has a handful of connectors (`GET /connectors` has the rest) but may have 100,000
/// connections, and repeating the connector's descriptions in every row more than doubled a
/// page and the time to scan a platform.
#[derive(Serialize)]
struct ListedPage<'a> {
    connections: Vec<ListedConnection<'a>>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct ListedConnection<'a> {
    id: &'a str,
    enabled: bool,
    connector: ConnectorName<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization: Option<&'a Authorization>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<&'a ContextRef>,
}

#[derive(Serialize)]
struct ConnectorName<'a> {
    name: &'a str,
    slug: &'a str,
}

impl<'a> From<&'a Connection> for ListedConnection<'a> {
    fn from(connection: &'a Connection) -> Self {
        Self {
            id: &connection.id,
            enabled: connection.enabled,
            connector: ConnectorName { name: &connection.connector.name, slug: &connection.connector.slug },
            authorization: connection.authorization.as_ref(),
            context: connection.context.as_ref(),
        }
    }
}

/// Get Connection by ID, with its credential when active, refreshed first when it expires soon.
async fn get_connection(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(state.refresher.fresh_by_id(id).await?.into()))
}

/// Forced refresh (admin): asks the provider now, whatever the expiry, and returns the
/// connection as it then is (`active` with a new token, `error` if the grant was refused, or
/// unchanged with `refresh_error` if the provider could not answer). 409 when the connection
/// has nothing to refresh with, 429 while the provider's `Retry-After` runs.
async fn refresh_connection(State(state): State<AppState>, ApiPath(id): ApiPath<String>) -> Result<Response, ApiError> {
    match state.refresher.refresh(&id, true).await? {
        RefreshOutcome::Impossible(reason) => Err(ApiError::new(StatusCode::CONFLICT, reason)),
        RefreshOutcome::CoolingDown(wait) => {
            let seconds = wait.as_secs().max(1);
            let error = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("the provider asked to wait; try again in {seconds}s"),
            );
            Ok(([(header::RETRY_AFTER, seconds.to_string())], error).into_response())
        }
        RefreshOutcome::Refreshed
        | RefreshOutcome::NotNeeded
        | RefreshOutcome::Revoked(_)
        | RefreshOutcome::Transient(_) => {
            Ok(Json(ConnectionResponse::from(state.store.connection_by_id(id).await?)).into_response())
        }
    }
}
