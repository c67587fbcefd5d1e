//! `/connectors`: the platform's connectors, paged (public fields only).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::paging::PageQuery;
use crate::model::ConnectorsPage;
use crate::server::error::ApiError;
use crate::server::extract::ApiQuery;
use crate::server::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/connectors", get(list_connectors))
}

async fn list_connectors(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<ConnectorsPage>, ApiError> {
    let page = state.store.list_connectors(query.page()?).await?;
    Ok(Json(ConnectorsPage { connectors: page.items, next_cursor: page.next_cursor }))
}
