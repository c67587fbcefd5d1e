//! Request and response envelopes of the Platform API.

use serde::{Deserialize, Serialize};

use super::{Connection, Connector, Context, Health, Platform};

/// Every error response: `{"error": "<message>"}` (xkit.js `request.ts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    pub error: String,
}

/// The filters of the bulk `GET /connections` extension (query parameters `status`,
/// `connector`, `context`, `expiring_within`): what the client sends and the server's store applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionFilter {
    pub health: Option<Health>,
    pub connector: Option<String>,
    pub context: Option<String>,
    /// Only connections whose authorization has an `expires_at` before now plus this.
    pub expiring_within: Option<std::time::Duration>,
}

/// The orders of the `GET /contexts` extension (`sort=`), ties going by `external_id`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContextOrder {
    #[default]
    ExternalId,
    /// By the most severe connection.
    Health,
    /// By `connection_count`.
    Connections,
}

impl ContextOrder {
    /// The `sort=` value.
    pub fn name(self) -> &'static str {
        match self {
            ContextOrder::ExternalId => "external_id",
            ContextOrder::Health => "health",
            ContextOrder::Connections => "connections",
        }
    }
}

/// The filters and sort of the `GET /contexts` extension (query parameters `status`,
/// `connector`, `search`, `sort`, `order`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextQuery {
    pub health: Option<Health>,
    pub connector: Option<String>,
    pub search: Option<String>,
    pub sort: ContextOrder,
    pub descending: bool,
}

/// `POST /api/platform/context` body (seeds 000, 001).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateContextRequest {
    pub context: Context,
}

/// `POST /api/platform/context` response: the context token, plus the stored context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateContextResponse {
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<Context>,
}

/// `{"connection": {...}}`, the answer of every single-connection route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEnvelope {
    pub connection: Connection,
}

/// `{"context": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextEnvelope {
    pub context: Context,
}

/// A page of `GET /api/platform/contexts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ContextsPage {
    pub contexts: Vec<Context>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A page of `GET /api/platform/connectors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConnectorsPage {
    pub connectors: Vec<Connector>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// A page of `GET /api/platform/connections` or `GET /api/platform/contexts/:id/connections`.
///
/// Xkit's own per-context list had no paging, so `next_cursor` is optional on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ConnectionsPage {
    pub connections: Vec<Connection>,
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Extension: `POST /api/platform/contexts/:id/connections/:slug/repair_link`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairLink {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// `{"platform": {...}}` from `GET /api/platform_user/platform`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformEnvelope {
    pub platform: Platform,
}
