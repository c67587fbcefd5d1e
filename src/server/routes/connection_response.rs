//! The answer of every single-connection route.

use serde::Serialize;

use crate::model::{Authorization, Connection, Connector};

/// `{"connection": {...}}`, plus `connector` and `authorization` echoed at the top level, where
/// seed 002's example destructures them.
#[derive(Serialize)]
pub(super) struct ConnectionResponse {
    connection: Connection,
    connector: Connector,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorization: Option<Authorization>,
}

impl From<Connection> for ConnectionResponse {
    fn from(connection: Connection) -> Self {
        Self { connector: connection.connector.clone(), authorization: connection.authorization.clone(), connection }
    }
}
