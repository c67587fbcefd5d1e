//! `/context` and `/contexts/...`: create or update a context and mint its token, read,
//! rename, list, and its connections.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::connection_response::ConnectionResponse;
use super::filters;
use super::paging::{PageQuery, page_request};
use crate::model::{
    ConnectionsPage, Context, ContextEnvelope, ContextsPage, CreateContextRequest, CreateContextResponse, RepairLink,
};
use crate::server::error::ApiError;
use crate::server::extract::{ApiJson, ApiPath, ApiQuery};
use crate::server::repair_link::mint_repair_link;
use crate::server::state::AppState;
use crate::server::store::{ContextQuery, ContextSort};
use crate::server::validate;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/context", post(create_context))
        .route("/contexts", get(list_contexts))
        .route("/contexts/{external_id}", get(get_context).patch(update_context))
        .route("/contexts/{external_id}/connections", get(context_connections))
        .route("/contexts/{external_id}/connections/{connector_slug}", get(get_connection).delete(remove_connection))
        .route("/contexts/{external_id}/connections/{connector_slug}/repair_link", post(repair_link))
}

/// Checks a context from a request body before anything is stored.
pub(super) fn validated(context: &Context) -> Result<(), ApiError> {
    validate::external_id(&context.external_id).map_err(ApiError::unprocessable)?;
    validate::external_name(context.external_name.as_deref()).map_err(ApiError::unprocessable)
}

/// A fresh context token for `external_id`.
pub(super) fn mint(state: &AppState, external_id: &str) -> Result<String, ApiError> {
    state.tokens.mint(external_id).map_err(|error| ApiError::internal("cannot mint a context token", error))
}

async fn create_context(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateContextRequest>,
) -> Result<Json<CreateContextResponse>, ApiError> {
    validated(&request.context)?;
    let context = state.store.upsert_context(request.context).await?;
    let access_token = mint(&state, &context.external_id)?;
    Ok(Json(CreateContextResponse { access_token, context: Some(context) }))
}

#[derive(Deserialize)]
struct ListContextsQuery {
    search: Option<String>,
    /// The context's health: its most severe connection's (`not_installed`: none).
    status: Option<String>,
    connector: Option<String>,
    sort: Option<String>,
    order: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

impl ListContextsQuery {
    fn context_query(&mut self) -> Result<ContextQuery, ApiError> {
        let sort = match filters::non_empty(self.sort.take()) {
            None => ContextSort::default(),
            Some(name) => ContextSort::parse(&name).ok_or_else(|| {
                ApiError::bad_request(format!("sort must be one of: {}", ContextSort::NAMES.join(", ")))
            })?,
        };
        let descending = match filters::non_empty(self.order.take()).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(_) => return Err(ApiError::bad_request("order must be asc or desc")),
        };
        Ok(ContextQuery {
            search: filters::non_empty(self.search.take()),
            health: filters::status(self.status.take())?,
            connector: filters::connector(self.connector.take())?,
            sort,
            descending,
        })
    }
}

/// Contexts with their `health` and `connection_count`, filtered and sorted on the server.
async fn list_contexts(
    State(state): State<AppState>,
    ApiQuery(mut query): ApiQuery<ListContextsQuery>,
) -> Result<Json<ContextsPage>, ApiError> {
    let context_query = query.context_query()?;
    let page = state.store.list_contexts(context_query, page_request(query.limit, query.cursor)?).await?;
    Ok(Json(ContextsPage { contexts: page.items, next_cursor: page.next_cursor }))
}

async fn get_context(
    State(state): State<AppState>,
    ApiPath(external_id): ApiPath<String>,
) -> Result<Json<ContextEnvelope>, ApiError> {
    Ok(Json(ContextEnvelope { context: state.store.context(external_id).await? }))
}

/// Update Platform Context: change fields and possibly the `external_id` (409 if taken).
async fn update_context(
    State(state): State<AppState>,
    ApiPath(external_id): ApiPath<String>,
    ApiJson(request): ApiJson<CreateContextRequest>,
) -> Result<Json<ContextEnvelope>, ApiError> {
    validated(&request.context)?;
    Ok(Json(ContextEnvelope { context: state.store.update_context(external_id, request.context).await? }))
}

async fn context_connections(
    State(state): State<AppState>,
    ApiPath(external_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ConnectionsPage>, ApiError> {
    let page = state.store.context_connections(external_id, query.page()?).await?;
    Ok(Json(ConnectionsPage { connections: page.items, next_cursor: page.next_cursor }))
}

/// Get Connection by Connector: the healthiest connection, with its credential when active,
/// refreshed first when it expires soon.
pub(super) async fn get_connection(
    State(state): State<AppState>,
    ApiPath((external_id, connector_slug)): ApiPath<(String, String)>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(state.refresher.fresh_best(external_id, connector_slug).await?.into()))
}

/// Extension: a short-lived, single-use catalog link that lets the context install or repair
/// its connection to the connector.
async fn repair_link(
    State(state): State<AppState>,
    ApiPath((external_id, connector_slug)): ApiPath<(String, String)>,
) -> Result<Json<RepairLink>, ApiError> {
    Ok(Json(mint_repair_link(&state, external_id, connector_slug).await?))
}

/// Soft removal: the context's connections to the connector become `enabled: false`.
async fn remove_connection(
    State(state): State<AppState>,
    ApiPath((external_id, connector_slug)): ApiPath<(String, String)>,
) -> Result<Json<ConnectionResponse>, ApiError> {
    Ok(Json(state.store.disable_connection(external_id, connector_slug).await?.into()))
}
