//! `GET /authorizations/:proto/:id` (C17), which xkit.js reads when the connect popup closes or
//! the socket reports a terminal status, and `PUT /authorizations/:proto` (C16), which submits
//! the fields of a connector that collects them (an API key) instead of an OAuth2 consent.
//! `:proto` is the authorizer prototype's slug, which here is the connector's slug.

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::{Map, Value};

use super::super::sessions::ContextSession;
use super::view::{AuthorizationEnvelope, client_connection};
use crate::model::Connection;
use crate::server::error::ApiError;
use crate::server::extract::{ApiJson, ApiPath};
use crate::server::state::AppState;

/// Longest submitted field value kept as a credential.
const MAX_FIELD_CHARS: usize = 4096;

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/authorizations/{proto}", put(submit_fields)).route("/authorizations/{proto}/{id}", get(read))
}

async fn read(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath((proto, id)): ApiPath<(String, String)>,
) -> Result<Json<AuthorizationEnvelope>, ApiError> {
    let not_found = || ApiError::not_found(format!("no authorization {id:?} for {proto:?}"));
    let authorization_id = id.parse::<i64>().map_err(|_| not_found())?;
    let connection =
        state.store.context_authorization(session.context.external_id, proto.clone(), authorization_id).await?;
    envelope(connection).ok_or_else(not_found)
}

/// `{"state": "<the authorization's state>", "<field>": "<value>", ...}`: the connector's
/// credential field becomes the credential and the authorization `active`.
async fn submit_fields(
    session: ContextSession,
    State(state): State<AppState>,
    ApiPath(proto): ApiPath<String>,
    ApiJson(fields): ApiJson<Map<String, Value>>,
) -> Result<Json<AuthorizationEnvelope>, ApiError> {
    let Some(field) = state.store.credential_field(proto.clone()).await? else {
        return Err(ApiError::bad_request(format!(
            "connector {proto:?} authorizes through OAuth2; it collects no fields"
        )));
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).filter(|value| !value.is_empty());
    let flow_state = text("state").ok_or_else(|| ApiError::bad_request("\"state\" is required"))?;
    let credential = text(&field).filter(|value| value.chars().count() <= MAX_FIELD_CHARS).ok_or_else(|| {
        ApiError::unprocessable(format!("{field:?} must be a string of 1-{MAX_FIELD_CHARS} characters"))
    })?;
    let external_id = session.context.external_id;
    let submitted = state
        .store
        .submit_fields(external_id.clone(), proto.clone(), flow_state.to_owned(), SecretString::from(credential))
        .await?;
    let Some(id) = submitted else {
        return Err(ApiError::not_found(format!("no authorization for {proto:?} waits with this state")));
    };
    tracing::info!(connection = %id, context = %external_id, slug = %proto, "fields submitted: authorization active");
    let connection = state.store.context_connection(external_id, id).await?;
    envelope(connection).ok_or_else(|| ApiError::not_found("the connection has no authorization"))
}

/// The connection's authorization, named as the client API names it (no credential: the
/// connection routes serve that).
fn envelope(connection: Connection) -> Option<Json<AuthorizationEnvelope>> {
    let authorization = client_connection(connection).authorization?;
    Some(Json(AuthorizationEnvelope { authorization }))
}
