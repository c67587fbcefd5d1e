//! The reads of the remote-backed panes (`remote.rs`): each [`RemoteRequest`] becomes one
//! [`RemoteEvent`], run by the runtime as a task of the open target.

use crate::client::{Client, ConnectionFilter};
use crate::model::Connection;

use super::paged::PageRequest;
use super::remote::{Listed, RemoteEvent, RemoteRequest};

/// Pages of one context's connections read at most (a context has one per connector).
const MAX_CONTEXT_PAGES: usize = 10;

pub async fn read(client: Client, request: RemoteRequest) -> RemoteEvent {
    match request {
        RemoteRequest::Totals { delay } => {
            tokio::time::sleep(delay).await;
            RemoteEvent::Totals(client.stats().await.map(Box::new))
        }
        RemoteRequest::Contexts { mut query, page } => {
            // A backward read is the same query in the other order.
            query.descending ^= page.backward;
            let result = client
                .query_contexts(&query, page.cursor.as_deref(), Some(page.limit as u32))
                .await
                .map(|answer| (answer.contexts, answer.next_cursor))
                .map_err(|error| error.to_string());
            RemoteEvent::ContextsPage { page, result }
        }
        RemoteRequest::Listing { listed, page } => {
            let result = listing_page(&client, &listed, &page).await.map_err(|error| error.to_string());
            RemoteEvent::ListingPage { page, result }
        }
        RemoteRequest::Settle { keystroke, after } => {
            tokio::time::sleep(after).await;
            RemoteEvent::Settled { keystroke }
        }
        RemoteRequest::ContextConnections { context } => {
            let result = context_connections(&client, &context).await.map_err(|error| error.to_string());
            RemoteEvent::ContextConnections { context, result }
        }
    }
}

/// One page of the listing: the bulk listing filtered by each of its healths in turn (triage:
/// error, then unknown), a page filled across the boundary so that row `n` is always on page
/// `n / PAGE`. The cursor is `<health index>:<the listing's cursor>`.
async fn listing_page(
    client: &Client,
    listed: &Listed,
    page: &PageRequest,
) -> Result<(Vec<Connection>, Option<String>), crate::client::ClientError> {
    let healths = listed.healths();
    let (mut health, mut cursor) = match page.cursor.as_deref().and_then(|cursor| cursor.split_once(':')) {
        Some((health, cursor)) => {
            (health.parse().unwrap_or(healths.len()), Some(cursor.to_owned()).filter(|c| !c.is_empty()))
        }
        None => (0, None),
    };
    let mut rows = Vec::with_capacity(page.limit);
    // Each read ends a health or fills the page: bounded by the healths.
    for _ in 0..=healths.len() * 2 {
        let Some(&status) = healths.get(health) else { break };
        let filter =
            ConnectionFilter { health: status, connector: listed.connector.clone(), ..ConnectionFilter::default() };
        let wanted = (page.limit - rows.len()) as u32;
        let answer = client.list_connections(&filter, cursor.as_deref(), Some(wanted)).await?;
        rows.extend(answer.connections);
        match answer.next_cursor {
            Some(next) => cursor = Some(next),
            None => {
                health += 1;
                cursor = None;
            }
        }
        if rows.len() >= page.limit {
            break;
        }
    }
    let next = (health < healths.len()).then(|| format!("{health}:{}", cursor.unwrap_or_default()));
    Ok((rows, next))
}

/// Every connection of `context`, the disabled ones too (as the full scan shows them): the bulk
/// listing narrowed to the context, which `GET /contexts/{id}/connections` is not (it lists the
/// enabled ones only, as Xkit did).
async fn context_connections(client: &Client, context: &str) -> Result<Vec<Connection>, crate::client::ClientError> {
    let filter = ConnectionFilter { context: Some(context.to_owned()), ..ConnectionFilter::default() };
    let mut connections = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_CONTEXT_PAGES {
        let page = client.list_connections(&filter, cursor.as_deref(), None).await?;
        connections.extend(page.connections);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    Ok(connections)
}
