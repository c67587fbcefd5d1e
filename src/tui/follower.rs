//! The follower: long-polls `GET /events` and sends what arrives to the state owner (the
//! runtime turns each report into an `Action::Follow`). It starts with the last hour of history (for the Events view) and from
//! there on waits for newer events, so nothing that happens while the first scan runs is
//! missed. A server without the route (404) is told once and left alone; any other failure
//! backs off and tries again.

use std::time::Duration;

use chrono::Utc;
use tokio::sync::mpsc;

use super::live::FollowEvent;
use crate::client::{Client, ClientError};
use crate::model::{Event, EventsQuery};

/// How long the server may hold one long-poll.
const WAIT: Duration = Duration::from_secs(25);
/// Events asked for per request.
const PAGE: u32 = 500;
/// How much history the Events view starts with.
const HISTORY: Duration = Duration::from_secs(3600);
/// Events of the history this recent are applied too: the scan started at the same time may
/// have read those connections just before they changed (and the two clocks may differ).
const OVERLAP: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(60);

/// Follows the events of `client`'s server until the dashboard goes away (or the task is
/// aborted with its target).
pub async fn run(client: Client, tx: mpsc::Sender<FollowEvent>) {
    let started = Utc::now();
    let query = EventsQuery {
        since: Some(started - chrono::Duration::from_std(HISTORY).unwrap_or_default()),
        ..EventsQuery::default()
    };
    let recent = started - chrono::Duration::from_std(OVERLAP).unwrap_or_default();
    let mut cursor: Option<String> = None;
    let mut caught_up = false;
    let mut failures = 0u32;
    loop {
        // Until the history is read, pages come at once; after, each request waits for news.
        let wait = caught_up.then_some(WAIT);
        let event = match client.list_events(&query, cursor.as_deref(), wait, Some(PAGE)).await {
            Ok(page) => {
                failures = 0;
                let full = page.events.len() >= PAGE as usize;
                cursor = Some(page.next_cursor);
                if caught_up {
                    FollowEvent::Events { events: page.events, apply: true }
                } else {
                    // The history splits into what the scan reflects and what it may not.
                    let (recent, older): (Vec<Event>, Vec<Event>) = page.events.into_iter().partition(|event| {
                        chrono::DateTime::parse_from_rfc3339(&event.occurred_at).is_ok_and(|at| at >= recent)
                    });
                    caught_up = !full;
                    if !older.is_empty() && !send(&tx, FollowEvent::Events { events: older, apply: false }).await {
                        return;
                    }
                    FollowEvent::Events { events: recent, apply: true }
                }
            }
            Err(ClientError::NotFound(_)) => {
                tracing::info!("the server has no events route; the dashboard keeps polling");
                let _ = send(&tx, FollowEvent::Unsupported).await;
                return;
            }
            Err(error) => {
                failures += 1;
                let retry_in = FIRST_RETRY.saturating_mul(2u32.saturating_pow(failures - 1)).min(MAX_RETRY);
                tracing::warn!(%error, ?retry_in, "following events failed");
                if !send(&tx, FollowEvent::Failed { error: error.to_string(), retry_in }).await {
                    return;
                }
                tokio::time::sleep(retry_in).await;
                continue;
            }
        };
        if !send(&tx, event).await {
            return;
        }
    }
}

/// Sends one report; false when the dashboard has gone away.
async fn send(tx: &mpsc::Sender<FollowEvent>, event: FollowEvent) -> bool {
    tx.send(event).await.is_ok()
}
