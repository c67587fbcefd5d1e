//! Webhook endpoints and their delivery attempts (an extension of this server: Xkit registered
//! webhooks in its dashboard only). Never carries an endpoint's signing secret.

use serde::{Deserialize, Serialize};

/// A registered webhook endpoint, as listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Webhook {
    /// `wh_...`.
    pub id: String,
    pub url: String,
    /// The event types sent to it; `None`: every event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    pub enabled: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// Since when every attempt failed (`None` while deliveries succeed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failing_since: Option<String>,
    /// Why the server disabled it (failing for too long).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
    /// Deliveries waiting in its queue.
    #[serde(default)]
    pub pending: u64,
}

/// One delivery attempt of one event to one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivery {
    pub webhook_id: String,
    pub event_id: String,
    pub event_type: String,
    /// 1 for the first attempt of this event to this endpoint.
    pub attempt: u32,
    /// RFC 3339 with milliseconds, UTC.
    pub attempted_at: String,
    pub duration_ms: u64,
    /// The receiver's status code, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    /// Why the attempt failed without an answer (refused target, timeout, connection error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A 2xx answer.
    pub delivered: bool,
}
