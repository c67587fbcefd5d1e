//! `GET /connectors` and `GET /connectors/:slug` (C9, C10): the platform's connectors, the
//! latter with the context's connections to it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::super::public::{ConnectorList, all_connectors};
use super::super::sessions::ContextSession;
use super::view::client_connection;
use crate::model::{Connection, ConnectionFilter, Connector};
use crate::server::error::ApiError;
use crate::server::extract::ApiPath;
use crate::server::state::AppState;
use crate::server::store::PageRequest;

/// Connections embedded in one connector (a context rarely has more than a few per connector).
const EMBEDDED_CONNECTIONS: usize = 100;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/connectors", get(list)).route("/connectors/{slug}", get(one))
}

async fn list(_session: ContextSession, State(state): State<AppState>) -> Result<Json<ConnectorList>, ApiError> {
    Ok(Json(ConnectorList { connectors: all_connectors(&state).await? }))
}

/// `{"connector": {..., "connections": [...]}}`: the context's enabled connections to it,
/// without credentials (`GET /connections/:slug` has the credential).
#[derive(Serialize)]
struct ConnectorEnvelope {
    connector: ConnectorWithConnections,
}

#[derive(Serialize)]
struct ConnectorWithConnections {
    #[serde(flatten)]
    connector: Connector,
    connections: Vec<Connection>,
}

async fn one(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ConnectorEnvelope>, ApiError> {
    let connector = state.store.connector(slug.clone()).await?;
    let filter =
        ConnectionFilter { connector: Some(slug), context: Some(session.context.external_id), ..Default::default() };
    let page = state.store.list_connections(filter, PageRequest { limit: EMBEDDED_CONNECTIONS, cursor: None }).await?;
    let connections = page.items.into_iter().filter(|connection| connection.enabled).map(client_connection).collect();
    Ok(Json(ConnectorEnvelope { connector: ConnectorWithConnections { connector, connections } }))
}
