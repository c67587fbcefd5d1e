//! Connection events (an extension of this server): one per change, oldest first.
//!
//! `payload` follows the webhook body Xkit documented for `connection.enabled`
//! (`{"connector": {"slug"}, "context": {"external_id"}, "connection": {"external_id"}}`), plus
//! `error_code`/`error_message` on `connection.error` and `message`, `retry_at` on `connection.refresh_failed`.

use serde::{Deserialize, Serialize};

/// One stored event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    /// `noun.verb`: `connection.created`, `connection.error`, `key.revoked`...
    pub event_type: String,
    /// RFC 3339, UTC, whole seconds.
    pub occurred_at: String,
    /// Who made the change: an API key's publishable part, `catalog`; absent for the server's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// A page of `GET /api/platform/events`: `next_cursor` is always set (the position after the
/// last event returned, or the one asked for), so a follower passes it back as `after`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventsPage {
    pub events: Vec<Event>,
    pub next_cursor: String,
}

/// What `GET /events` narrows to; empty fields narrow nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    pub event_type: Option<String>,
    pub context: Option<String>,
    pub connector: Option<String>,
    pub connection: Option<String>,
    /// Only events that occurred at or after this time.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
}

/// Routine successful token refreshes in one hour (they are counted, not stored as events).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshCount {
    /// The hour's start, RFC 3339 (`2026-01-01T13:00:00Z`).
    pub hour: String,
    pub refreshed: u64,
}
