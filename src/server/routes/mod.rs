//! The JSON API's resources, one router each, in two groups: the Platform API (API keys) and
//! the Platform User API (public, or a context token). Errors answer as `{"error": ...}`.

mod connection_response;
mod connections;
mod connectors;
mod contexts;
mod legacy;
mod paging;
mod public;
mod sessions;

use axum::{Router, middleware};

use super::auth::ApiKey;
use super::state::AppState;

/// `/api/platform`: every route needs a valid key pair (HTTP Basic), checked once here for all
/// of them, before anything else of the request is read.
pub fn platform(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(contexts::router())
        .merge(connections::router())
        .merge(connectors::router())
        .merge(legacy::router())
        .route_layer(middleware::from_extractor_with_state::<ApiKey, AppState>(state))
}

/// `/api/platform_user`: the public platform record and connectors, and the context-token session.
pub fn platform_user() -> Router<AppState> {
    public::router().merge(sessions::router())
}
