//! Wire types shared by the API client and the bundled server.
//!
//! Field names follow `../shared/docs/xkit-api.md` exactly. Every type tolerates unknown
//! fields (serde's default), so a newer or foreign Xkit-compatible server never breaks the
//! dashboard; optional extension fields are `Option` and skipped when absent.

mod connection;
mod connector;
mod context;
mod event;
mod health;
mod pages;
mod stats;
mod webhook;

pub use connection::{Authorization, AuthorizationStatus, Authorizer, AuthorizerPrototype, Connection, ContextRef};
pub use connector::{Connector, Platform};
pub use context::Context;
pub use event::{ConnectorStats, Event, EventsPage, EventsQuery, RefreshCount, StatsBucket, StatsCounts, StatsHistory};
pub use health::Health;
pub use pages::{
    ApiErrorBody, ConnectionEnvelope, ConnectionFilter, ConnectionsPage, ConnectorsPage, ContextEnvelope, ContextOrder,
    ContextQuery, ContextsPage, CreateContextRequest, CreateContextResponse, PlatformEnvelope, RepairLink,
};
pub use stats::{ConnectorTotals, HealthTotals, PlatformStats};
pub use webhook::{Webhook, WebhookDelivery};
