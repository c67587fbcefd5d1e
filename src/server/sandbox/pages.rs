//! The sandbox's pages: the consent screen and the grant list.

use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use crate::server::html;
use crate::server::store::{SandboxClient, SandboxGrantView};

/// The consent screen: sign in under any name, then approve or deny. `hidden` carries the
/// authorization request's parameters to the decision; `scope` is what is asked for.
pub(super) fn consent(client: &SandboxClient, hidden: &[(&str, Option<&str>)], scope: &str) -> Response {
    let body = html! {
        h1 { "Sandbox sign-in" }
        p { "The app " strong { (client.name) } " (" code { (client.client_id) } ") asks for access." }
        @if !scope.is_empty() {
            p { "Scopes: " @for scope in scope.split_whitespace() { code { (scope) } " " } }
        }
        p.muted { "This is the xkit-dash sandbox provider: any name signs in, no password." }
        form method="post" action="authorize" {
            @for (name, value) in hidden {
                @if let Some(value) = value { input type="hidden" name=(name) value=(value); }
            }
            p { label { "Sign in as " input type="text" name="subject" value="demo-user" required maxlength="200"; } }
            p {
                button.primary type="submit" name="decision" value="approve" { "Approve" }
                " "
                button type="submit" name="decision" value="deny" { "Deny" }
            }
        }
    };
    html::page(StatusCode::OK, "Sandbox sign-in", body)
}

/// The admin page: every grant, newest first, with a Revoke button for the live ones.
pub(super) fn grants(grants: &[SandboxGrantView]) -> Response {
    let body = html! {
        h1 { "Sandbox OAuth2 provider" }
        p {
            "Grants issued by this server's sandbox provider. Revoking one makes its next refresh fail with "
            code { "invalid_grant" } ", so the platform marks the connection " code { "error" } "."
        }
        @if grants.is_empty() {
            p.muted { "No grants yet." }
        } @else {
            table {
                tr { th { "Grant" } th { "Client" } th { "Subject" } th { "Last used" } th { "State" } th {} }
                @for grant in grants {
                    tr {
                        td { (grant.id) }
                        td { (grant.client_name) br; span.muted { (grant.client_id) } }
                        td { (grant.subject) }
                        td { (html::time(grant.last_used_at.or(grant.created_at))) }
                        @if grant.revoked_at.is_some() {
                            td.error { "revoked" br; span.muted { (grant.revoked_reason.as_deref().unwrap_or("")) } }
                            td {}
                        } @else {
                            td.active { "live" }
                            td {
                                form method="post" action={ "sandbox/grants/" (grant.id) "/revoke" } {
                                    button type="submit" { "Revoke" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    html::page(StatusCode::OK, "Sandbox OAuth2 provider", body)
}
