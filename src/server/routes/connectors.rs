//! `/connectors`: the platform's connectors, paged (public fields only).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::extract::ApiQuery;
use super::{AppState, PageQuery};
use crate::model::ConnectorsPage;
use crate::server::auth::ApiKey;
use crate::server::error::ApiError;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/connectors", get(list_connectors))
}

async fn list_connectors(
    _key: ApiKey,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ConnectorsPage>, ApiError> {
    let page = state.store.list_connectors(query.page()?).await?;
    Ok(Json(ConnectorsPage { connectors: page.items, next_cursor: page.next_cursor }))
}
