//! `GET /events` (an extension): the event history, oldest first, with keyset paging by `after`
//! and long-polling by `wait`.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::paging::page_request;
use crate::model::{EventsPage, RefreshCount};
use crate::server::error::ApiError;
use crate::server::extract::ApiQuery;
use crate::server::state::AppState;
use crate::server::store::EventFilter;
use crate::server::transport::ServerStop;

/// The longest a request may wait for a newer event, below every proxy's and client's timeout.
const MAX_WAIT: Duration = Duration::from_secs(30);

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/events", get(list_events)).route("/events/refreshes", get(refresh_counts))
}

#[derive(Deserialize)]
struct EventsQuery {
    after: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    context: Option<String>,
    connector: Option<String>,
    connection: Option<String>,
    /// RFC 3339: only events that occurred at or after it.
    since: Option<String>,
    /// A duration (`25s`): when nothing newer exists yet, answer as soon as something does.
    wait: Option<String>,
    limit: Option<usize>,
}

#[derive(Deserialize)]
struct RefreshCountsQuery {
    since: Option<String>,
}

#[derive(Serialize)]
struct RefreshCounts {
    hours: Vec<RefreshCount>,
}

/// `GET /events/refreshes`: routine successful refreshes per hour, oldest first.
async fn refresh_counts(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RefreshCountsQuery>,
) -> Result<Json<RefreshCounts>, ApiError> {
    let since = parse_since(query.since)?;
    Ok(Json(RefreshCounts { hours: state.store.refresh_counts(since).await? }))
}

/// An RFC 3339 `since`; empty means none.
fn parse_since(since: Option<String>) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    since
        .filter(|since| !since.is_empty())
        .map(|since| chrono::DateTime::parse_from_rfc3339(&since).map(|at| at.to_utc()))
        .transpose()
        .map_err(|_| ApiError::bad_request("since must be an RFC 3339 time"))
}

async fn list_events(
    State(state): State<AppState>,
    stop: Option<axum::Extension<ServerStop>>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventsPage>, ApiError> {
    // A stopping server answers its long-polls at once rather than holding up its shutdown.
    let stop = stop.map(|axum::Extension(ServerStop(stop))| stop).unwrap_or_default();
    let non_empty = |value: Option<String>| value.filter(|value| !value.is_empty());
    let since = parse_since(query.since)?;
    let wait = non_empty(query.wait)
        .map(|wait| humantime::parse_duration(&wait))
        .transpose()
        .map_err(|_| ApiError::bad_request("wait must be a duration such as 25s"))?
        .unwrap_or_default()
        .min(MAX_WAIT);
    let filter = EventFilter {
        event_type: non_empty(query.event_type),
        context: non_empty(query.context),
        connector: non_empty(query.connector),
        connection: non_empty(query.connection),
        since,
    };
    let page = page_request(query.limit, None)?;
    let after = non_empty(query.after);
    let deadline = tokio::time::Instant::now() + wait;
    // Subscribed before reading, so an event committed in between still wakes the wait.
    let mut newer = state.store.subscribe_events();
    loop {
        let events = state.store.events(filter.clone(), after.clone(), page.limit).await?;
        if !events.events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(Json(events));
        }
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, newer.changed()) => match changed {
                Ok(Ok(())) => {}
                // The deadline passed, or the store is gone: answer with what there is.
                Ok(Err(_)) | Err(_) => return Ok(Json(events)),
            },
            () = stop.cancelled() => return Ok(Json(events)),
        }
    }
}
