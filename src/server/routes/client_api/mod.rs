//! The Platform User API's context routes (C9-C17 of the wire contract), which xkit.js calls
//! with `Authorization: Bearer <context token>`: connectors, the context's connections, the
//! connect flow's authorizations and one-time tokens. Every route is scoped to the token's
//! context: another context's connection, authorization or id answers 404, exactly like one
//! that does not exist, so nothing of it leaks, not even its existence.

mod authorizations;
mod connections;
mod connectors;
mod one_time;
mod view;

use axum::Router;

use crate::server::state::AppState;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .merge(connectors::router())
        .merge(connections::router())
        .merge(authorizations::router())
        .merge(one_time::router())
}
