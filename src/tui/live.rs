//! Following the platform's events: what the dashboard knows about the event stream (live,
//! polling, backing off), the recent events the Events view lists (bounded), and the 24-hour
//! history the chart draws. State only: the worker is `follower.rs`, the reducer
//! `update/follow.rs`.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::client::ClientError;
use crate::model::{Connection, Event, StatsHistory};

use super::remote::RemoteEvent;

/// The most events kept for the Events view; older ones are dropped.
pub const MAX_EVENTS: usize = 2_000;

/// How the dashboard learns of changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum FollowMode {
    /// Not known yet: the first request to the events route has not answered.
    #[default]
    Starting,
    /// Long-polling the events route: changes show within a second or two.
    Live,
    /// The server has no events route: only the periodic rescans show changes.
    Polling,
    /// The long-poll failed; the follower retries at `retry_at`.
    Retrying { since: DateTime<Utc>, retry_at: DateTime<Utc>, error: String },
}

/// The dashboard's view of the event stream.
#[derive(Debug, Clone, Default)]
pub struct Live {
    pub mode: FollowMode,
    /// Newest first, at most [`MAX_EVENTS`].
    pub events: VecDeque<Event>,
    /// The 24-hour history, when the server has the route and it answered.
    pub stats: Option<StatsHistory>,
    /// A stats request is in flight (events arriving meanwhile do not ask again).
    pub stats_loading: bool,
    /// The server answered 404 to the stats route: the chart is not drawn.
    pub stats_unsupported: bool,
    /// Events changed more than can be read again one by one while a scan ran: another scan
    /// follows it at once.
    pub rescan_wanted: bool,
}

impl Live {
    /// Keeps `events` (oldest first, as the server sends them) at the front, newest first.
    pub fn record(&mut self, events: &[Event]) {
        for event in events {
            self.events.push_front(event.clone());
        }
        self.events.truncate(MAX_EVENTS);
    }
}

/// What the follower worker, and the reads it leads to, report (carried by `Action::Follow`).
#[derive(Debug, Clone)]
pub enum FollowEvent {
    /// The server has no events route (404): keep polling.
    Unsupported,
    /// Events, oldest first. `apply` is false for the history read at start, which the
    /// running scan already reflects: those only fill the Events view.
    Events { events: Vec<Event>, apply: bool },
    /// A long-poll failed; the next attempt is in `retry_in`.
    Failed { error: String, retry_in: Duration },
    /// The connections of one context to one connector, read again after an event about them.
    Refetched { context: String, connector: String, result: Result<Vec<Connection>, String> },
    /// `GET /stats/history` answered (boxed: large next to the other reports).
    Stats(Result<Box<StatsHistory>, ClientError>),
    /// A read of the remote-backed panes answered.
    Remote(RemoteEvent),
}

/// One filter word: `type:`, `connector:`, `context:` or `connection:` narrow that field;
/// other words match any of them or the message (case-insensitive).
pub fn matches(event: &Event, word: &str) -> bool {
    let contains = |field: Option<&str>, needle: &str| field.is_some_and(|field| field.to_lowercase().contains(needle));
    let (field, needle) = word.split_once(':').unwrap_or(("", word));
    match field {
        "type" => contains(Some(&event.event_type), needle),
        "connector" => contains(event.connector.as_deref(), needle),
        "context" => contains(event.context.as_deref(), needle),
        "connection" => contains(event.connection.as_deref(), needle),
        _ => {
            let message = message(event);
            [Some(event.event_type.as_str()), event.context.as_deref(), event.connector.as_deref()]
                .into_iter()
                .chain([event.connection.as_deref(), message.as_deref()])
                .any(|field| contains(field, word))
        }
    }
}

/// What an event says beyond its type: the error, the transient failure, what an
/// administrative event was about.
pub fn message(event: &Event) -> Option<String> {
    let text = |key: &str| event.payload.get(key).and_then(|value| value.as_str()).map(str::to_owned);
    match (text("error_code"), text("error_message")) {
        (Some(code), Some(message)) => Some(format!("{code}: {message}")),
        (code, message) => code.or(message),
    }
    .or_else(|| text("message"))
    .or_else(|| text("origin"))
    .or_else(|| text("publishable_key"))
}
