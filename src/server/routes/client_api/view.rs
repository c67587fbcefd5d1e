//! How the client API shows a connection: as xkit.js's `Connection`, its authorization naming
//! the prototype (the connector's slug, which `GET /authorizations/:proto/:id` and the popup
//! pages take), and without the Platform API's `context` extension.

use serde::Serialize;

use crate::model::{Authorization, AuthorizerPrototype, Connection, Connector};

/// `{"connection": {...}}`.
#[derive(Serialize)]
pub(super) struct ConnectionEnvelope {
    pub connection: Connection,
}

/// `{"connections": [...]}`.
#[derive(Serialize)]
pub(super) struct ConnectionList {
    pub connections: Vec<Connection>,
}

/// `{"authorization": {...}}`.
#[derive(Serialize)]
pub(super) struct AuthorizationEnvelope {
    pub authorization: Authorization,
}

/// A connection as the client API answers it.
pub(super) fn client_connection(mut connection: Connection) -> Connection {
    connection.context = None;
    if let Some(authorization) = connection.authorization.as_mut() {
        name_prototype(authorization, &connection.connector);
    }
    connection
}

/// Sets `authorizer.prototype` to the connector: this server has one authorizer per connector.
pub(super) fn name_prototype(authorization: &mut Authorization, connector: &Connector) {
    let prototype = AuthorizerPrototype { name: connector.name.clone(), slug: connector.slug.clone() };
    authorization.authorizer.get_or_insert_with(Default::default).prototype = Some(prototype);
}
