//! Helpers every table module shares: timestamps as stored, stored health.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::model::{AuthorizationStatus, Connection, Connector, Health};

/// Derives the stored health of a connection with the model's one definition.
pub(super) fn derived_health(enabled: bool, status: Option<&AuthorizationStatus>) -> Health {
    let connection = Connection {
        id: String::new(),
        enabled,
        connector: Connector::default(),
        authorization: status
            .map(|status| crate::model::Authorization { status: status.clone(), ..Default::default() }),
        context: None,
    };
    Health::of(Some(&connection))
}

pub(super) fn now_text() -> String {
    timestamp_text(Utc::now())
}

pub(super) fn timestamp_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub(super) fn parse_timestamp(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()).map(|at| at.with_timezone(&Utc))
}
