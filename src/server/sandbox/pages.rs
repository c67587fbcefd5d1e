//! The sandbox's pages: the consent screen and the grant list.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::{AuthorizeParams, LISTED_GRANTS};
use crate::server::html::{self, HtmlError};
use crate::server::routes::AppState;
use crate::server::store::SandboxClient;

/// The consent screen: sign in under any name, then approve or deny.
pub(super) fn consent(client: &SandboxClient, params: &AuthorizeParams) -> Response {
    let hidden = [
        ("response_type", Some(params.response_type.as_str())),
        ("client_id", Some(params.client_id.as_str())),
        ("redirect_uri", Some(params.redirect_uri.as_str())),
        ("scope", Some(params.scope.as_str())),
        ("state", params.state.as_deref()),
        ("code_challenge", params.code_challenge.as_deref()),
        ("code_challenge_method", params.code_challenge_method.as_deref()),
    ];
    let body = html! {
        h1 { "Sandbox sign-in" }
        p { "The app " strong { (client.name) } " (" code { (client.client_id) } ") asks for access." }
        @if !params.scope.is_empty() {
            p { "Scopes: " @for scope in params.scope.split_whitespace() { code { (scope) } " " } }
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

/// `GET /sandbox`: every grant, newest first, with a Revoke button for the live ones.
pub(super) async fn admin(State(state): State<AppState>) -> Result<Response, HtmlError> {
    let grants = state.store.sandbox_grants(LISTED_GRANTS).await?;
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
                @for grant in &grants {
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
    Ok(html::page(StatusCode::OK, "Sandbox OAuth2 provider", body))
}
