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

/// `GET /api/platform/stats/history` (extension): what happened per time bucket, oldest bucket
/// first, every bucket present (zeros included) so a chart can draw it as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsHistory {
    /// The first bucket's start (the asked `since`, aligned down to a multiple of the bucket).
    pub since: String,
    /// The end of the last bucket, at or after the time of the answer.
    pub until: String,
    pub bucket_seconds: u64,
    pub buckets: Vec<StatsBucket>,
}

/// One bucket: the platform's totals and, for each connector with something to count, its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsBucket {
    /// RFC 3339, UTC.
    pub start: String,
    #[serde(flatten)]
    pub totals: StatsCounts,
    #[serde(default)]
    pub connectors: Vec<ConnectorStats>,
}

/// One connector's counts in a bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorStats {
    pub connector: String,
    #[serde(flatten)]
    pub counts: StatsCounts,
}

/// What a bucket counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsCounts {
    /// `connection.error` events: permanent failures.
    #[serde(default)]
    pub errors: u64,
    /// `connection.recovered` and `connection.repaired` events.
    #[serde(default)]
    pub recoveries: u64,
    /// Routine successful token refreshes (counted per hour: an hour's count falls in the bucket
    /// holding the hour's start).
    #[serde(default)]
    pub refreshes: u64,
    /// `connection.refresh_failed` events: transient failures, retried.
    #[serde(default)]
    pub transient_failures: u64,
}

impl StatsCounts {
    pub fn add(&mut self, other: &StatsCounts) {
        self.errors += other.errors;
        self.recoveries += other.recoveries;
        self.refreshes += other.refreshes;
        self.transient_failures += other.transient_failures;
    }

    pub fn is_empty(&self) -> bool {
        *self == StatsCounts::default()
    }
}
