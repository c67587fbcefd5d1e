//! The catalog's pages: a connector with the visitor's connections, and the end of a flow.

use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use crate::model::{Connection, Connector, Health};
use crate::server::html;
use crate::server::store::{ProviderFailure, ReturningFlow};

fn status_class(health: Health) -> &'static str {
    match health {
        Health::Active => "active",
        Health::Pending => "pending",
        Health::Error | Health::Unknown => "error",
        Health::Disabled | Health::NotInstalled => "muted",
    }
}

/// A button posting the link's token (and the connection to re-authorize, if any).
fn authorize_button(slug: &str, token: &str, connection_id: Option<&str>, label: &str, primary: bool) -> Markup {
    html! {
        form method="post" action={ (slug) "/authorize" } {
            input type="hidden" name="token" value=(token);
            @if let Some(id) = connection_id { input type="hidden" name="connection_id" value=(id); }
            @if primary { button.primary type="submit" { (label) } } @else { button type="submit" { (label) } }
        }
    }
}

/// `GET /connectors/:slug`.
pub(super) fn connector(
    connector: &Connector,
    external_id: &str,
    connections: &[Connection],
    can_authorize: bool,
    token: &str,
) -> Response {
    let slug = connector.slug.as_str();
    let body = html! {
        h1 { (connector.name) }
        p { (connector.short_description) }
        @if let Some(about) = &connector.about { p.muted { (about) } }
        p { "Connections of " strong { (external_id) } " to " (connector.name) ":" }
        @if connections.is_empty() {
            p.muted { "Not installed yet." }
        }
        @for connection in connections {
            @let health = Health::of(Some(connection));
            @let authorization = connection.authorization.as_ref();
            div.box {
                p {
                    span.status.(status_class(health)) { (health.symbol()) " " (health.word()) }
                    @if let Some(label) = authorization.and_then(|a| a.display_label.as_deref()) { " · " (label) }
                }
                @if let Some(authorization) = authorization {
                    @if let Some(code) = &authorization.error_code {
                        p {
                            "Error " code { (code) }
                            @if let Some(message) = &authorization.error_message { ": " (message) }
                        }
                    }
                    @if let Some(expires_at) = authorization.expires_at {
                        p.muted { "Access token expires " (html::time(Some(expires_at))) }
                    }
                    @if let Some(refresh_error) = &authorization.refresh_error {
                        p.muted { "Last refresh problem: " (refresh_error) }
                    }
                }
                p.muted { "Connection " code { (connection.id) } }
                @if can_authorize {
                    @let label = if health == Health::Active { "Re-authorize" } else { "Reconnect" };
                    (authorize_button(slug, token, Some(&connection.id), label, health != Health::Active))
                }
            }
        }
        @if can_authorize {
            @if connections.is_empty() {
                (authorize_button(slug, token, None, "Install", true))
            } @else if connector.supports_multiple_connections {
                (authorize_button(slug, token, None, "Add connection", false))
            }
        } @else {
            p.muted { "This connector cannot be authorized from the catalog (it has no OAuth2 settings)." }
        }
    };
    html::page(StatusCode::OK, &connector.name, body)
}

/// The page the callback ends on; in xkit.js's popup, it closes the popup.
pub(super) fn outcome(flow: &ReturningFlow, failure: Option<&ProviderFailure>, in_popup: bool) -> Response {
    let body = html! {
        @match failure {
            None => {
                h1.active { "Connected" }
                p { "The " code { (flow.connector_slug) } " connection of " strong { (flow.external_id) }
                    " is active. You can close this window." }
            }
            Some(failure) => {
                h1.error { "Authorization failed" }
                p { code { (failure.code) } ": " (failure.message) }
                p { "The connection of " strong { (flow.external_id) } " stays in error until it is authorized again." }
            }
        }
        p.muted { "Connection " code { (flow.connection_id) } }
    };
    let status = if failure.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    let title = if failure.is_some() { "Authorization failed" } else { "Connected" };
    if in_popup {
        html::page_with_script(status, title, body, super::popup::CLOSE_SCRIPT)
    } else {
        html::page(status, title, body)
    }
}
