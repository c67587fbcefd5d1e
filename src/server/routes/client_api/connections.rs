//! The context's connections (C11-C15): list, read (with the credential when usable, refreshed
//! first when it expires soon, as the Platform API does), connect or reconnect, and remove.

use axum::extract::State;
use axum::http::header;
use axum::response::{AppendHeaders, IntoResponse as _, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::super::sessions::ContextSession;
use super::view::{ConnectionEnvelope, ConnectionList, client_connection};
use crate::model::ConnectionFilter;
use crate::server::catalog::{PreparedFlow, prepare_flow};
use crate::server::error::ApiError;
use crate::server::extract::{ApiJson, ApiPath, ApiQuery};
use crate::server::secret::random_token;
use crate::server::state::AppState;
use crate::server::store::{PageRequest, StoreError};
use crate::server::validate;

/// Bound on the connections `GET /connections` answers in its one, unpaged list.
const MAX_LISTED_CONNECTIONS: usize = 1000;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/connections", get(list))
        .route("/connections/{slug}", get(by_slug).post(connect).delete(remove_by_slug))
        .route("/connection/{id}", get(by_id).delete(remove_by_id))
}

#[derive(Deserialize)]
struct ListQuery {
    slug: Option<String>,
}

/// `GET /connections[?slug=]`: the context's enabled connections, without credentials.
async fn list(
    session: ContextSession,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<ConnectionList>, ApiError> {
    let connector = query.slug.filter(|slug| !slug.is_empty());
    let filter = ConnectionFilter { connector, context: Some(session.context.external_id), ..Default::default() };
    let page =
        state.store.list_connections(filter, PageRequest { limit: MAX_LISTED_CONNECTIONS, cursor: None }).await?;
    let connections = page.items.into_iter().filter(|connection| connection.enabled).map(client_connection).collect();
    Ok(Json(ConnectionList { connections }))
}

/// `GET /connections/:slug`: the context's healthiest connection to the connector (the one the
/// Platform API's `GET /contexts/:id/connections/:slug` also picks); 404 when it has none.
async fn by_slug(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ConnectionEnvelope>, ApiError> {
    let connection = state.refresher.fresh_best(session.context.external_id, slug).await?;
    Ok(Json(ConnectionEnvelope { connection: client_connection(connection) }))
}

/// `GET /connection/:id`: 404 for an id of another context, as for an unknown one.
async fn by_id(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionEnvelope>, ApiError> {
    // The scope is checked before the refresher may ask a provider anything for this id.
    state.store.context_connection(session.context.external_id, id.clone()).await?;
    let connection = state.refresher.fresh_by_id(id).await?;
    Ok(Json(ConnectionEnvelope { connection: client_connection(connection) }))
}

/// The body of `POST /connections/:slug`: `{}` to connect anew, `{"id"}` to add a connection
/// under a chosen id or to authorize an existing one again.
#[derive(Deserialize)]
struct ConnectBody {
    #[serde(default)]
    id: Option<String>,
}

/// `POST /connections/:slug`: the connection, `awaiting_callback` (a new one, or with `{"id"}`
/// or for a single-connection connector the existing one, authorized again). For an OAuth2 connector its
/// `authorize_url` is where the popup goes, and the answer's cookie binds the flow to this
/// browser (the catalog's callback checks it); for a connector that collects a field (an API
/// key) its `state` is what `PUT /authorizations/:proto` presents.
async fn connect(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
    ApiJson(body): ApiJson<ConnectBody>,
) -> Result<Response, ApiError> {
    if let Some(id) = &body.id {
        validate::connection_id(id).map_err(ApiError::bad_request)?;
    }
    let external_id = session.context.external_id;
    let connector = state.store.connector(slug.clone()).await?;
    // A connector that allows one connection per context authorizes that one again rather
    // than adding a second.
    let connection_id = match body.id {
        Some(id) => Some(id),
        None if !connector.supports_multiple_connections => {
            match state.store.best_connection(external_id.clone(), slug.clone()).await {
                Ok(existing) => Some(existing.id),
                Err(StoreError::NotFound(_)) => None,
                Err(error) => return Err(error.into()),
            }
        }
        None => None,
    };
    let mut flow_cookie = None;
    let id = if state.store.credential_field(slug.clone()).await?.is_some() {
        let field_state = random_token(24);
        state.store.begin_field_authorization(external_id.clone(), slug.clone(), connection_id, field_state).await?
    } else {
        let Some(oauth) = state.store.connector_oauth(slug.clone()).await? else {
            return Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                format!("connector {slug:?} cannot be authorized: it has no OAuth2 settings"),
            ));
        };
        let PreparedFlow { flow, flow_cookie: cookie } = prepare_flow(&state, &oauth).map_err(|problem| {
            let cause = anyhow::anyhow!("the OAuth settings of connector {slug:?} are unusable: {problem}");
            ApiError::internal("the connector is misconfigured", cause)
        })?;
        flow_cookie = Some(cookie);
        state.store.begin_client_authorization(external_id.clone(), slug.clone(), connection_id, flow).await?
    };
    tracing::info!(connection = %id, context = %external_id, %slug, "client API authorization started");
    let connection = client_connection(state.store.context_connection(external_id, id).await?);
    let cookies = flow_cookie.into_iter().map(|cookie| (header::SET_COOKIE, cookie)).collect::<Vec<_>>();
    Ok((AppendHeaders(cookies), Json(ConnectionEnvelope { connection })).into_response())
}

/// `DELETE /connections/:slug`: removes (disables) the context's connections to the connector.
async fn remove_by_slug(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath(slug): ApiPath<String>,
) -> Result<Json<ConnectionEnvelope>, ApiError> {
    let connection = state.store.disable_connection(session.context.external_id, slug).await?;
    Ok(Json(ConnectionEnvelope { connection: client_connection(connection) }))
}

/// `DELETE /connection/:id`: removes (disables) one connection of the context.
async fn remove_by_id(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ConnectionEnvelope>, ApiError> {
    let connection = state.store.disable_context_connection(session.context.external_id, id).await?;
    Ok(Json(ConnectionEnvelope { connection: client_connection(connection) }))
}
