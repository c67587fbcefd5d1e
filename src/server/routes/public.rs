//! The public part of the Platform User API (no token needed): the platform record and its
//! connectors, which xkit.js reads to learn the slug and render the catalog.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::paging::MAX_LIMIT;
use crate::model::{Connector, PlatformEnvelope};
use crate::server::error::ApiError;
use crate::server::extract::ApiPath;
use crate::server::state::AppState;
use crate::server::store::PageRequest;

/// Bound on pages read for the unpaged public connector list.
const MAX_PUBLIC_PAGES: usize = 10;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/platform", get(platform))
        .route("/platform/connectors", get(connectors))
        .route("/platform/connectors/{slug}", get(connector))
}

async fn platform(State(state): State<AppState>) -> Result<Json<PlatformEnvelope>, ApiError> {
    Ok(Json(PlatformEnvelope { platform: state.store.platform().await? }))
}

#[derive(Serialize)]
pub(super) struct ConnectorList {
    pub(super) connectors: Vec<Connector>,
}

/// xkit.js expects the whole list in one answer.
async fn connectors(State(state): State<AppState>) -> Result<Json<ConnectorList>, ApiError> {
    Ok(Json(ConnectorList { connectors: all_connectors(&state).await? }))
}

/// Every connector of the platform (up to a bound of pages), for the lists xkit.js reads whole.
pub(super) async fn all_connectors(state: &AppState) -> Result<Vec<Connector>, ApiError> {
    let mut connectors = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PUBLIC_PAGES {
        let page = state.store.list_connectors(PageRequest { limit: MAX_LIMIT, cursor }).await?;
        connectors.extend(page.items);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(connectors)
}

#[derive(Serialize)]
struct ConnectorEnvelope {
    connector: Connector,
}

async fn connector(
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ConnectorEnvelope>, ApiError> {
    Ok(Json(ConnectorEnvelope { connector: state.store.connector(slug).await? }))
}
