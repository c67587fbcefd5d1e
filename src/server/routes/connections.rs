//! `/connections`: the bulk listing across contexts, reads by id, and forced refresh.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::connection_response::ConnectionResponse;
use super::filters;
use super::paging::page_request;
use crate::model::{Authorization, Connection, ConnectionFilter, ContextRef, Health};
use crate::server::error::ApiError;
use crate::server::extract::{ApiPath, ApiQuery};
use crate::server::refresh::RefreshOutcome;
use crate::server::state::AppState;
use crate::server::store::export::Export;

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
    /// A duration (`24h`): only connections whose authorization expires before now plus it.
    expiring_within: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The longest `expiring_within` accepted (ten years).
const MAX_EXPIRING_WITHIN: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Rows read from the database per chunk of an NDJSON export.
const EXPORT_CHUNK: usize = 1000;

const NDJSON: &str = "application/x-ndjson";

impl ListConnectionsQuery {
    fn filter(&mut self) -> Result<ConnectionFilter, ApiError> {
        let health = match filters::status(self.status.take())? {
            Some(Health::NotInstalled) => {
                return Err(ApiError::bad_request("status not_installed describes the absence of a connection"));
            }
            health => health,
        };
        let expiring_within = match filters::non_empty(self.expiring_within.take()) {
            None => None,
            Some(within) => match humantime::parse_duration(&within) {
                Ok(within) if within <= MAX_EXPIRING_WITHIN => Some(within),
                _ => {
                    return Err(ApiError::bad_request(
                        "expiring_within must be a duration such as 24h, at most 10 years",
                    ));
                }
            },
        };
        Ok(ConnectionFilter {
            health,
            connector: filters::connector(self.connector.take())?,
            context: filters::non_empty(self.context.take()),
            expiring_within,
        })
    }
}

/// The bulk listing: pages of JSON, or the whole (filtered) listing as one NDJSON stream when the
/// client accepts `application/x-ndjson` (`limit` and `cursor` then do not apply).
async fn list_connections(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(mut query): ApiQuery<ListConnectionsQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter()?;
    if accepts_ndjson(&headers) {
        return Ok(ndjson(state.store.export_connections(filter, EXPORT_CHUNK, listed_line)?));
    }
    let page = state.store.list_connections(filter, page_request(query.limit, query.cursor)?).await?;
    let connections = page.items.iter().map(ListedConnection::from).collect();
    Ok(Json(ListedPage { connections, next_cursor: page.next_cursor }).into_response())
}

fn accepts_ndjson(headers: &HeaderMap) -> bool {
    headers.get_all(header::ACCEPT).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value
            .split(',')
            .any(|media| media.split(';').next().is_some_and(|media| media.trim().eq_ignore_ascii_case(NDJSON)))
    })
}

/// One line per connection, as the pages list them, written as the export's chunks arrive
/// (encoded by [`listed_line`] on the export's own thread). A failure mid-way ends the body
/// without its last chunk, so the client sees a broken transfer rather than a short listing.
fn ndjson(export: Export) -> Response {
    let lines = futures::stream::unfold(export, |mut export| async move {
        let chunk = export.next_chunk().await?.map(Bytes::from).map_err(|error| {
            tracing::error!(error = %error, "the connections export failed");
            std::io::Error::other("the export failed")
        });
        Some((chunk, export))
    });
    ([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response()
}

/// A connection's line of the NDJSON export: the page's item, then a newline.
fn listed_line(connection: &Connection, lines: &mut Vec<u8>) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *lines, &ListedConnection::from(connection))?;
    lines.push(b'\n');
    Ok(())
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
