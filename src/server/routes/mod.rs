//! The JSON API's resources, one router each, in two groups: the Platform API (API keys) and
//! the Platform User API (public, or a context token). Errors answer as `{"error": ...}`.

mod client_api;
mod connection_response;
mod connections;
mod connectors;
mod contexts;
mod events;
mod filters;
mod legacy;
mod paging;
mod public;
pub(super) mod sessions;
mod stats;
mod webhooks;

use axum::{Router, middleware};

use super::auth::{ApiKey, act_as_api_key};
use super::state::AppState;

/// `/api/platform`: every route needs a valid key pair (HTTP Basic), checked once here for all
/// of them, before anything else of the request is read.
pub fn platform(state: AppState) -> Router<AppState> {
    Router::new()
        .merge(contexts::router())
        .merge(connections::router())
        .merge(connectors::router())
        .merge(events::router())
        .merge(stats::router())
        .merge(legacy::router())
        .merge(webhooks::router())
        // Inside the key check (the later layer runs first): only checked keys become actors.
        .route_layer(middleware::from_fn(act_as_api_key))
        .route_layer(middleware::from_extractor_with_state::<ApiKey, AppState>(state))
}

/// `/api/platform_user`: the public platform record and connectors, the context-token session,
/// and the context's own connectors, connections and authorizations (xkit.js's calls), whose
/// writes are done for `client:<external_id>`.
pub fn platform_user(state: AppState) -> Router<AppState> {
    public::router()
        .merge(sessions::router())
        .merge(client_api::router())
        .route_layer(middleware::from_fn_with_state(state, sessions::act_as_context_client))
}

#[cfg(test)]
mod tests {
    use reqwest::{Method, StatusCode};

    use crate::server::{ServerConfig, start};

    /// Every Platform API route, legacy ones included, refuses a request without keys with the
    /// same 401 before reading anything else of it (an unreadable body included).
    #[tokio::test]
    async fn every_platform_route_refuses_a_request_without_keys() {
        let dir = tempfile::tempdir().unwrap();
        let server = start(ServerConfig::new(dir.path())).await.unwrap();
        let routes = [
            (Method::POST, "/context"),
            (Method::GET, "/contexts"),
            (Method::GET, "/contexts/u1"),
            (Method::PATCH, "/contexts/u1"),
            (Method::GET, "/contexts/u1/connections"),
            (Method::GET, "/contexts/u1/connections/crm"),
            (Method::DELETE, "/contexts/u1/connections/crm"),
            (Method::POST, "/contexts/u1/connections/crm/repair_link"),
            (Method::GET, "/connections"),
            (Method::GET, "/connections/c1"),
            (Method::POST, "/connections/c1/refresh"),
            (Method::GET, "/connectors"),
            (Method::GET, "/events"),
            (Method::GET, "/webhooks"),
            (Method::POST, "/webhooks"),
            (Method::DELETE, "/webhooks/wh_1"),
            (Method::POST, "/webhooks/wh_1/test"),
            (Method::GET, "/webhooks/deliveries"),
            (Method::GET, "/stats/history"),
            (Method::GET, "/stats"),
            (Method::POST, "/users"),
            (Method::GET, "/users/u1/connections/crm"),
            (Method::GET, "/groups/g1/connections/crm"),
            (Method::GET, "/connections/c1/crm"),
        ];
        let http = reqwest::Client::new();
        for (method, path) in routes {
            let url = format!("{}/api/platform{path}", server.base_url());
            let response = http
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body("not json")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(response.headers()["www-authenticate"], "Basic realm=\"xkit platform\"", "{method} {path}");
            assert_eq!(
                response.text().await.unwrap(),
                r#"{"error":"missing or invalid API keys (HTTP Basic publishable_key:secret_key)"}"#,
                "{method} {path}"
            );
        }
        server.shutdown().await;
    }
}
