//! The Platform API of the bundled server over real HTTP: the seed documents' requests
//! reproduced exactly, every route, and every kind of bad input.

use std::collections::HashSet;

use crate::support::jwt_claims;
use crate::support::server::{TestPlatform, assert_error, send};
use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xkit_dash::model::{Connection, Health};

/// A platform whose connections are known exactly: one context per "healthiest wins" case.
const HEALTH_SEED: &str = r#"{
  "platform": {"name": "Health Test", "slug": "health-test"},
  "connectors": [
    {"slug": "slack", "name": "Slack", "supports_multiple_connections": true,
     "oauth": {"authorize_url": "https://slack.example/authorize", "token_url": "https://slack.example/token",
               "client_id": "client-id-1", "client_secret": "connector-client-secret-do-not-leak"}},
    {"slug": "github", "name": "GitHub"}
  ],
  "contexts": [
    {"external_id": "all-kinds"}, {"external_id": "no-active"}, {"external_id": "broken"},
    {"external_id": "switched-off"}, {"external_id": "nothing"}
  ],
  "connections": [
    {"id": "a-error", "context": "all-kinds", "connector": "slack",
     "authorization": {"status": "error", "error_code": "invalid_grant", "error_message": "Token has been expired or revoked."}},
    {"id": "a-disabled", "context": "all-kinds", "connector": "slack", "enabled": false,
     "authorization": {"status": "active", "access_token": "disabled-token"}},
    {"id": "a-active", "context": "all-kinds", "connector": "slack",
     "authorization": {"status": "active", "access_token": "live-token-1", "refresh_token": "refresh-token-1",
                       "expires_at": "now+1h", "display_label": "ops@acme.example"}},
    {"id": "a-pending", "context": "all-kinds", "connector": "slack",
     "authorization": {"status": "awaiting_callback", "authorize_url": "https://slack.example/authorize?state=s1", "state": "s1"}},
    {"id": "b-disabled", "context": "no-active", "connector": "slack", "enabled": false},
    {"id": "b-error", "context": "no-active", "connector": "slack", "authorization": {"status": "error"}},
    {"id": "b-pending", "context": "no-active", "connector": "slack", "authorization": {"status": "retrieving_tokens"}},
    {"id": "c-disabled", "context": "broken", "connector": "slack", "enabled": false, "authorization": {"status": "active"}},
    {"id": "c-bare", "context": "broken", "connector": "slack"},
    {"id": "d-disabled", "context": "switched-off", "connector": "slack", "enabled": false,
     "authorization": {"status": "active", "access_token": "old-token"}},
    {"id": "e-unknown", "context": "switched-off", "connector": "github", "authorization": {"status": "suspended"}}
  ]
}"#;

async fn health_platform() -> TestPlatform {
    TestPlatform::seeded(HEALTH_SEED).await
}

fn health_of(connection: &Value) -> Health {
    let connection: Connection = serde_json::from_value(connection.clone()).unwrap();
    Health::of(Some(&connection))
}

// ---- seeds ---------------------------------------------------------------------------------

/// Seed 000: `POST /context` with Basic pk:sk and `{context: {external_id, external_name, email}}`.
#[tokio::test]
async fn seed_000_create_context_returns_a_context_token() {
    let platform = TestPlatform::empty().await;
    let (status, body) = platform
        .create_context(json!({"external_id": "user-42", "external_name": "Ada Lovelace", "email": "ada@example.com"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("access_token");
    let claims = jwt_claims(token);
    assert_eq!(claims["sub"], "user-42");
    assert_eq!(claims["external_id"], "user-42");
    assert_eq!(claims["aud"], "local", "bound to the platform slug");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 24 * 3600);
    assert_eq!(
        body["context"],
        json!({"external_id": "user-42", "external_name": "Ada Lovelace", "email": "ada@example.com"})
    );

    // "create (or update)": the same id again updates, keeps attributes, adds new ones.
    let (status, body) = platform.create_context(json!({"external_id": "user-42", "plan": "pro"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body["context"],
        json!({"external_id": "user-42", "external_name": "Ada Lovelace", "email": "ada@example.com", "plan": "pro"})
    );
    let (_, listed) = platform.get("/contexts").await;
    assert_eq!(listed["contexts"].as_array().unwrap().len(), 1);
}

/// Seed 001: contexts for a company and for a user (full URL, custom `apiKey` attribute), then
/// the legacy `users`/`groups` paths answer exactly as the `contexts` path.
#[tokio::test]
async fn seed_001_migration_bodies_and_legacy_paths() {
    let platform = TestPlatform::demo().await;
    for context in [
        json!({"external_id": "my_sample_company_id", "external_name": "Acme, Inc.", "apiKey": "secret_acme_api_key"}),
        json!({"external_id": "my_sample_user_id", "external_name": "[email protected]", "apiKey": "secret_user_api_key"}),
    ] {
        let response = platform
            .http
            .post(platform.url("/api/platform/context"))
            .basic_auth(
                &platform.keys.publishable_key,
                Some(secrecy::ExposeSecret::expose_secret(&platform.keys.secret_key)),
            )
            .json(&json!({ "context": context }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert!(body["access_token"].as_str().is_some_and(|token| token.split('.').count() == 3));
        assert_eq!(body["context"]["apiKey"], context["apiKey"]);
    }

    let (_, active) = platform.get("/connections?status=active&limit=1").await;
    let connection = &active["connections"][0];
    let (id, slug) =
        (connection["context"]["external_id"].as_str().unwrap(), connection["connector"]["slug"].as_str().unwrap());
    let (status, by_context) = platform.get(&format!("/contexts/{id}/connections/{slug}")).await;
    assert_eq!(status, StatusCode::OK);
    for legacy in ["users", "groups"] {
        let (status, body) = platform.get(&format!("/{legacy}/{id}/connections/{slug}")).await;
        assert_eq!(status, StatusCode::OK, "{legacy}");
        assert_eq!(body, by_context, "/{legacy}/... answers like /contexts/...");
    }
    assert_error(&platform.get(&format!("/users/no-such-user/connections/{slug}")).await, StatusCode::NOT_FOUND);
}

/// Seed 002: `GET /contexts/:userId/connections/:slug`; `connection.enabled`,
/// `authorization.status` and `authorization.credential` (top level too, as the example reads them).
#[tokio::test]
async fn seed_002_get_connection_returns_the_credential_only_when_active() {
    let platform = health_platform().await;
    let (status, body) = platform.get("/contexts/all-kinds/connections/slack").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let connection = &body["connection"];
    assert_eq!(connection["id"], "a-active", "the healthiest of four connections wins");
    assert_eq!(connection["enabled"], true);
    assert_eq!(connection["connector"]["slug"], "slack");
    assert_eq!(connection["authorization"]["status"], "active");
    assert_eq!(connection["authorization"]["credential"], "live-token-1");
    assert_eq!(connection["authorization"]["access_token"], "live-token-1");
    assert_eq!(connection["authorization"]["display_label"], "ops@acme.example");
    assert!(connection["authorization"]["expires_at"].is_string(), "extension field present");
    assert!(connection["authorization"].get("refresh_token").is_none(), "the refresh token never leaves");
    assert_eq!(body["connector"], connection["connector"]);
    assert_eq!(body["authorization"], connection["authorization"]);

    // Enabled but not active: the credential is empty and the status says why.
    let (_, body) = platform.get("/contexts/broken/connections/slack").await;
    assert_eq!(body["connection"]["id"], "c-bare");
    assert_eq!(body["connection"]["enabled"], true);
    assert!(body["connection"].get("authorization").is_none());
    let (_, body) = platform.get("/contexts/switched-off/connections/slack").await;
    assert_eq!(body["connection"]["enabled"], false, "not enabled");
    assert!(body["connection"]["authorization"].get("credential").is_none());
    assert!(body["connection"]["authorization"].get("access_token").is_none());
}

/// Seed 004: the oldest form `GET /connections/:userId/:slug` reads `authorization.access_token`.
#[tokio::test]
async fn seed_004_oldest_legacy_path_reads_access_token() {
    let platform = health_platform().await;
    let (status, body) = platform.get("/connections/all-kinds/slack").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connection"]["enabled"], true);
    assert_eq!(body["connection"]["authorization"]["status"], "active");
    assert_eq!(body["connection"]["authorization"]["access_token"], "live-token-1");
    let (status, body) = platform.get("/connections/no-active/slack").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["connection"]["authorization"]["status"], "retrieving_tokens");
    assert!(body["connection"]["authorization"].get("access_token").is_none());
}

// ---- connections ---------------------------------------------------------------------------

#[tokio::test]
async fn healthiest_connection_wins_in_health_order() {
    let platform = health_platform().await;
    for (context, expected_id, expected_health) in [
        ("all-kinds", "a-active", Health::Active),
        ("no-active", "b-pending", Health::Pending),
        ("broken", "c-bare", Health::Error),
        ("switched-off", "d-disabled", Health::Disabled),
    ] {
        let (status, body) = platform.get(&format!("/contexts/{context}/connections/slack")).await;
        assert_eq!(status, StatusCode::OK, "{context}: {body}");
        assert_eq!(body["connection"]["id"], expected_id, "{context}");
        assert_eq!(health_of(&body["connection"]), expected_health, "{context}");
    }
    let (_, body) = platform.get("/contexts/switched-off/connections/github").await;
    assert_eq!(body["connection"]["authorization"]["status"], "suspended", "unknown statuses pass through");
    assert_eq!(health_of(&body["connection"]), Health::Unknown);

    let missing = platform.get("/contexts/nothing/connections/slack").await;
    assert_error(&missing, StatusCode::NOT_FOUND);
    assert!(missing.1["error"].as_str().unwrap().contains("no connection"));
    let missing = platform.get("/contexts/nobody/connections/slack").await;
    assert_error(&missing, StatusCode::NOT_FOUND);
    assert!(missing.1["error"].as_str().unwrap().contains("no context"));
    let unknown_connector = platform.get("/contexts/all-kinds/connections/slak").await;
    assert_error(&unknown_connector, StatusCode::NOT_FOUND);
    assert!(unknown_connector.1["error"].as_str().unwrap().contains("no connector"));
}

#[tokio::test]
async fn context_connections_lists_enabled_ones_without_credentials() {
    let platform = health_platform().await;
    let (status, body) = platform.get("/contexts/all-kinds/connections").await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<_> = body["connections"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a-error", "a-active", "a-pending"], "enabled connections only, in creation order");
    assert!(!body.to_string().contains("live-token-1"));
    assert_eq!(body["connections"][0]["authorization"]["error_code"], "invalid_grant");
    assert_error(&platform.get("/contexts/nobody/connections").await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn connection_by_id_and_forced_refresh() {
    let platform = health_platform().await;
    let (status, body) = platform.get("/connections/a-active").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["connection"]["authorization"]["credential"], "live-token-1");
    assert_eq!(body["connection"]["context"]["external_id"], "all-kinds");
    let (_, body) = platform.get("/connections/a-disabled").await;
    assert_eq!(body["connection"]["enabled"], false);
    assert!(body["connection"]["authorization"].get("credential").is_none(), "only active credentials are served");
    assert_error(&platform.get("/connections/no-such-id").await, StatusCode::NOT_FOUND);

    // Nothing to refresh with: a connection that is not active (forced refreshes that reach a
    // provider are covered by `oauth_flows` against a real OAuth2 server).
    assert_error(&platform.post("/connections/e-unknown/refresh", json!({})).await, StatusCode::CONFLICT);
    assert_error(&platform.post("/connections/no-such-id/refresh", json!({})).await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_disables_softly() {
    let platform = health_platform().await;
    let (status, body) = send(platform.request(Method::DELETE, "/contexts/all-kinds/connections/slack")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connection"]["enabled"], false);
    let (status, body) = platform.get("/contexts/all-kinds/connections/slack").await;
    assert_eq!(status, StatusCode::OK, "the record stays");
    assert_eq!(body["connection"]["enabled"], false);
    assert!(body["connection"]["authorization"].get("credential").is_none());
    let (_, listed) = platform.get("/contexts/all-kinds/connections").await;
    assert_eq!(listed["connections"], json!([]));
    let (_, disabled) = platform.get("/connections?status=disabled&context=all-kinds").await;
    assert_eq!(disabled["connections"].as_array().unwrap().len(), 4);

    assert_error(
        &send(platform.request(Method::DELETE, "/contexts/nothing/connections/slack")).await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &send(platform.request(Method::DELETE, "/contexts/nobody/connections/slack")).await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn bulk_connections_filter_by_health_connector_and_context() {
    let platform = TestPlatform::demo().await;
    let all = platform.all_pages("/connections", "connections", 1000).await;
    assert!(all.len() >= 300);
    for connection in &all {
        assert!(connection["context"]["external_id"].is_string(), "each connection names its context");
        // Rows name their connector; its descriptions live once in GET /connectors.
        let connector = connection["connector"].as_object().unwrap();
        assert_eq!(connector.keys().collect::<Vec<_>>(), ["name", "slug"], "{connector:?}");
    }
    let mut seen_healths = HashSet::new();
    for health in [Health::Active, Health::Pending, Health::Unknown, Health::Error, Health::Disabled] {
        let filtered = platform.all_pages(&format!("/connections?status={}", health.word()), "connections", 1000).await;
        let expected = all.iter().filter(|connection| health_of(connection) == health).count();
        assert_eq!(filtered.len(), expected, "{health}");
        assert!(filtered.iter().all(|connection| health_of(connection) == health), "{health}");
        if !filtered.is_empty() {
            seen_healths.insert(health);
        }
    }
    assert_eq!(seen_healths.len(), 5, "the demo covers every health");

    let slack = platform.all_pages("/connections?connector=slack", "connections", 1000).await;
    assert!(!slack.is_empty() && slack.iter().all(|c| c["connector"]["slug"] == "slack"));
    let acme = platform.all_pages("/connections?context=org_acme&status=active", "connections", 1000).await;
    assert!(acme.iter().all(|c| c["context"]["external_id"] == "org_acme" && health_of(c) == Health::Active));

    assert_error(&platform.get("/connections?status=sleepy").await, StatusCode::BAD_REQUEST);
    assert_error(&platform.get("/connections?status=not_installed").await, StatusCode::BAD_REQUEST);
}

// ---- lists ---------------------------------------------------------------------------------

#[tokio::test]
async fn list_pagination_walks_every_item_exactly_once() {
    let platform = TestPlatform::demo().await;
    let batch = xkit_dash::server::seed::parse(xkit_dash::server::seed::DEMO, "demo").unwrap();

    let contexts = platform.all_pages("/contexts", "contexts", 7).await;
    let ids: HashSet<_> = contexts.iter().map(|c| c["external_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(contexts.len(), batch.contexts.len());
    assert_eq!(ids.len(), contexts.len(), "no context twice");

    let connections = platform.all_pages("/connections", "connections", 37).await;
    let ids: HashSet<_> = connections.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(connections.len(), batch.connections.len());
    assert_eq!(ids.len(), connections.len(), "no connection twice");

    let connectors = platform.all_pages("/connectors", "connectors", 5).await;
    assert_eq!(connectors.len(), batch.connectors.len());

    let (_, first) = platform.get("/connections").await;
    assert_eq!(first["connections"].as_array().unwrap().len(), 100, "default limit 100");
    let (_, capped) = platform.get("/connections?limit=5000").await;
    assert_eq!(capped["connections"].as_array().unwrap().len(), batch.connections.len().min(1000));

    let mine = platform.all_pages("/contexts/org_acme/connections", "connections", 2).await;
    let expected =
        connections.iter().filter(|c| c["context"]["external_id"] == "org_acme" && c["enabled"] == true).count();
    assert_eq!(mine.len(), expected);
}

#[tokio::test]
async fn contexts_search_get_and_rename() {
    let platform = TestPlatform::demo().await;
    let found = platform.all_pages("/contexts?search=ACME", "contexts", 100).await;
    assert!(!found.is_empty());
    assert!(found.iter().all(|c| {
        let text = format!("{} {}", c["external_id"], c["external_name"]).to_lowercase();
        text.contains("acme")
    }));
    let (_, none) = platform.get("/contexts?search=%25_%25").await;
    assert_eq!(none["contexts"], json!([]), "LIKE wildcards in a search are literal");

    let (status, _) = platform.create_context(json!({"external_id": "team/α β?#"})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = platform.get("/contexts/team%2F%CE%B1%20%CE%B2%3F%23").await;
    assert_eq!(
        (status, &body["context"]["external_id"]),
        (StatusCode::OK, &json!("team/α β?#")),
        "ids are path-decoded"
    );

    let (status, body) = platform.get("/contexts/org_acme").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["context"]["external_name"], "Acme Corporation");
    assert_eq!(body["context"]["kind"], "company");

    let rename = |from: &str, to: &str| {
        send(
            platform
                .request(Method::PATCH, &format!("/contexts/{from}"))
                .json(&json!({"context": {"external_id": to}})),
        )
    };
    let taken = rename("org_acme", "org_globex").await;
    assert_error(&taken, StatusCode::CONFLICT);
    let (status, body) = rename("org_acme", "org_acme_renamed").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["context"]["external_name"], "Acme Corporation", "other fields kept");
    assert_error(&platform.get("/contexts/org_acme").await, StatusCode::NOT_FOUND);
    let (_, moved) = platform.get("/connections?context=org_acme_renamed").await;
    assert!(!moved["connections"].as_array().unwrap().is_empty(), "connections follow the rename");
    assert_error(&rename("nobody", "somebody").await, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn connectors_and_public_platform_routes() {
    let platform = TestPlatform::demo().await;
    let (status, body) = platform.get("/connectors").await;
    assert_eq!(status, StatusCode::OK);
    let slack = body["connectors"].as_array().unwrap().iter().find(|c| c["slug"] == "slack").unwrap().clone();
    for field in
        ["name", "slug", "short_description", "mark_url", "about", "description", "supports_multiple_connections"]
    {
        assert!(slack.get(field).is_some(), "connector field {field}");
    }

    // Public: no keys needed.
    let (status, body) = send(platform.http.get(platform.url("/api/platform_user/platform"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["platform"]["slug"], "northwind");
    assert_eq!(body["platform"]["name"], "Northwind Analytics");
    let (status, body) = send(platform.http.get(platform.url("/api/platform_user/platform/connectors"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body["connectors"].as_array().unwrap().len() >= 12);
    let (status, body) = send(platform.http.get(platform.url("/api/platform_user/platform/connectors/slack"))).await;
    assert_eq!((status, &body["connector"]["name"]), (StatusCode::OK, &json!("Slack")));
    assert_error(
        &send(platform.http.get(platform.url("/api/platform_user/platform/connectors/nope"))).await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test]
async fn no_list_ever_carries_a_credential() {
    let platform = health_platform().await;
    let mut bodies = Vec::new();
    for path in [
        "/connections?limit=1000",
        "/connections?status=active",
        "/connections?status=disabled",
        "/contexts/all-kinds/connections",
        "/contexts/switched-off/connections",
        "/connectors",
        "/contexts",
    ] {
        let (status, body) = platform.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        bodies.push(body.to_string());
    }
    let (_, public) = send(platform.http.get(platform.url("/api/platform_user/platform/connectors"))).await;
    bodies.push(public.to_string());
    for body in &bodies {
        for secret in
            ["live-token-1", "refresh-token-1", "disabled-token", "old-token", "connector-client-secret-do-not-leak"]
        {
            assert!(!body.contains(secret), "{secret} leaked in {body}");
        }
        for key in ["\"credential\"", "\"access_token\"", "\"refresh_token\"", "\"client_secret\"", "\"token_url\""] {
            assert!(!body.contains(key), "{key} in a list: {body}");
        }
    }
    // The single read does carry it: the assertions above are not vacuous.
    let (_, single) = platform.get("/contexts/all-kinds/connections/slack").await;
    assert!(single.to_string().contains("live-token-1"));
    assert!(!single.to_string().contains("refresh-token-1"));
    assert!(!single.to_string().contains("connector-client-secret-do-not-leak"));
}

// ---- legacy provisioning -------------------------------------------------------------------

#[tokio::test]
async fn legacy_provision_user_creates_user_and_group_contexts() {
    let platform = TestPlatform::empty().await;
    let (status, body) =
        platform.post("/users", json!({"user": {"external_id": "u-7", "external_group_id": "team-3"}})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(jwt_claims(body["access_token"].as_str().unwrap())["sub"], "u-7");
    let (_, user) = platform.get("/contexts/u-7").await;
    assert_eq!(user["context"]["external_group_id"], "team-3");
    let (status, _) = platform.get("/contexts/team-3").await;
    assert_eq!(status, StatusCode::OK, "the group exists as a context");
    assert_error(
        &platform.post("/users", json!({"user": {"external_id": "u-8", "external_group_id": 5}})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    );
    assert_error(&platform.get("/contexts/u-8").await, StatusCode::NOT_FOUND);
}

// ---- authentication and bad input ------------------------------------------------------------

#[tokio::test]
async fn wrong_or_missing_keys_get_401_with_basic_challenge() {
    let platform = TestPlatform::empty().await;
    let url = platform.platform_url("/contexts");
    let other = xkit_dash::server::create_key_pair(tempfile::tempdir().unwrap().path()).unwrap();
    let requests = [
        platform.http.get(&url),
        platform.http.get(&url).basic_auth(&platform.keys.publishable_key, Some("wrong-secret")),
        platform.http.get(&url).basic_auth(&platform.keys.publishable_key, None::<&str>),
        platform
            .http
            .get(&url)
            .basic_auth(&other.publishable_key, Some(secrecy::ExposeSecret::expose_secret(&other.secret_key))),
        platform.http.get(&url).bearer_auth(secrecy::ExposeSecret::expose_secret(&platform.keys.secret_key)),
        platform.http.get(&url).header("authorization", "Basic !!!not-base64"),
    ];
    for request in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].is_string());
    }
    let (status, _) = platform.get("/contexts").await;
    assert_eq!(status, StatusCode::OK, "the right pair passes");
}

/// C5 `GET /api/platform_user/session` and C1 `POST /api/platform_user/sessions` with a context
/// token as Bearer: accepted while valid, 401 with a Bearer challenge for every way it is not.
#[tokio::test]
async fn context_tokens_open_a_platform_user_session() {
    let platform = TestPlatform::empty().await;
    let (_, created) =
        platform.create_context(json!({"external_id": "tenant-7", "external_name": "Tenant Seven"})).await;
    let token = created["access_token"].as_str().expect("a context token").to_owned();
    let session_url = platform.url("/api/platform_user/session");
    let check = |token: &str| send(platform.http.get(&session_url).bearer_auth(token));

    let (status, body) = check(&token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["context"]["external_id"], "tenant-7");
    assert_eq!(body["context"]["external_name"], "Tenant Seven");
    let expires_at = chrono::DateTime::parse_from_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires_at.timestamp(), jwt_claims(&token)["exp"].as_i64().unwrap());
    let (status, login) =
        send(platform.http.post(platform.url("/api/platform_user/sessions")).bearer_auth(&token)).await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["context"]["external_id"], "tenant-7", "C1 answers a JSON object");

    // Tokens the platform did not mint, or no longer stands behind.
    let key = platform.signing_key().await;
    let mut claims = jwt_claims(&token);
    claims["exp"] = json!(chrono::Utc::now().timestamp() - 60);
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    let expired = jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&key)).unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let ttl = xkit_dash::server::DEFAULT_TOKEN_TTL;
    let forged =
        xkit_dash::server::tokens::TokenSigner::load(other_dir.path(), "local", ttl).unwrap().mint("tenant-7").unwrap();
    let wrong_platform = platform.signer("globex", ttl).await.mint("tenant-7").unwrap();
    let (head, rest) = token.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let other_claims = json!({"sub": "root", "external_id": "root", "iss": claims["iss"], "aud": claims["aud"],
                              "iat": claims["iat"], "exp": jwt_claims(&token)["exp"]});
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(other_claims.to_string());
    let tampered = format!("{head}.{payload}.{signature}");
    for (case, bad, reason) in [
        ("expired", expired.as_str(), "expired"),
        ("forged", &forged, "invalid context token"),
        ("another platform's", &wrong_platform, "invalid context token"),
        ("tampered", &tampered, "invalid context token"),
        ("garbage", "not-a-jwt", "invalid context token"),
    ] {
        let refused = check(bad).await;
        assert_error(&refused, StatusCode::UNAUTHORIZED);
        assert!(refused.1["error"].as_str().unwrap().contains(reason), "{case}: {}", refused.1);
    }
    let secret = secrecy::ExposeSecret::expose_secret(&platform.keys.secret_key);
    let requests = [
        ("no header", platform.http.get(&session_url)),
        ("Basic keys", platform.http.get(&session_url).basic_auth(&platform.keys.publishable_key, Some(secret))),
        ("empty Bearer", platform.http.get(&session_url).header("authorization", "Bearer ")),
    ];
    for (case, request) in requests {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{case}");
        let body: Value = response.json().await.unwrap();
        assert!(body["error"].as_str().unwrap().contains("missing context token"), "{case}: {body}");
    }
    let (status, _) = send(platform.http.post(platform.url("/api/platform_user/sessions")).bearer_auth(&forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "C1 refuses what C5 refuses");

    // A token outlives its context's id: after a rename it speaks for nobody.
    let (status, _) = send(
        platform.request(Method::PATCH, "/contexts/tenant-7").json(&json!({"context": {"external_id": "tenant-8"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let refused = check(&token).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED);
    assert!(refused.1["error"].as_str().unwrap().contains("no longer exists"), "{}", refused.1);
}

#[tokio::test]
async fn bad_input_gets_a_json_error_and_stores_nothing() {
    let platform = TestPlatform::empty().await;
    let post_raw = |body: &str, content_type: &str| {
        send(platform.request(Method::POST, "/context").header("content-type", content_type).body(body.to_owned()))
    };
    assert_error(&post_raw("{\"context\": {\"external_id\": ", "application/json").await, StatusCode::BAD_REQUEST);
    assert_error(&post_raw("", "application/json").await, StatusCode::BAD_REQUEST);
    assert_error(
        &post_raw("{\"context\": {\"external_id\": \"x\"}}", "text/plain").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
    );
    assert_error(&send(platform.request(Method::POST, "/context")).await, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for context in [
        json!({}),
        json!({"external_name": "no id"}),
        json!({"external_id": ""}),
        json!({"external_id": 42}),
        json!({"external_id": "x".repeat(256)}),
        json!({"external_id": "line\nbreak"}),
        json!({"external_id": "esc\u{1b}[31mape"}),
        json!({"external_id": "ok", "external_name": "n".repeat(1025)}),
    ] {
        assert_error(&platform.create_context(context.clone()).await, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_error(&platform.post("/context", json!({"not_context": {}})).await, StatusCode::UNPROCESSABLE_ENTITY);
    let huge = json!({"context": {"external_id": "big", "blob": "x".repeat(70 * 1024)}});
    assert_error(&platform.post("/context", huge).await, StatusCode::PAYLOAD_TOO_LARGE);

    let (_, listed) = platform.get("/contexts").await;
    assert_eq!(listed["contexts"], json!([]), "nothing partial was stored");

    let (status, _) = platform.create_context(json!({"external_id": "é".repeat(255)})).await;
    assert_eq!(status, StatusCode::OK, "255 characters is the limit, not 255 bytes");

    assert_error(&platform.get("/no-such-route").await, StatusCode::NOT_FOUND);
    assert_error(&send(platform.http.get(platform.url("/elsewhere"))).await, StatusCode::NOT_FOUND);
    assert_error(&send(platform.request(Method::PUT, "/contexts")).await, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&send(platform.request(Method::GET, "/context")).await, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&platform.get("/contexts?limit=0").await, StatusCode::BAD_REQUEST);
    assert_error(&platform.get("/contexts?limit=many").await, StatusCode::BAD_REQUEST);
    assert_error(&platform.get("/contexts?cursor=garbage").await, StatusCode::BAD_REQUEST);
    platform.create_context(json!({"external_id": "second"})).await;
    let (_, first_page) = platform.get("/contexts?limit=1").await;
    let contexts_cursor = first_page["next_cursor"].as_str().expect("two contexts make two pages of one");
    assert_error(&platform.get(&format!("/connections?cursor={contexts_cursor}")).await, StatusCode::BAD_REQUEST);
}

/// Issue 9, item 17a: an `external_id` of whitespace alone is refused wherever an id comes in.
#[tokio::test]
async fn blank_external_ids_are_refused_wherever_an_id_comes_in() {
    let platform = TestPlatform::empty().await;
    for blank in [" ", "   ", "\u{3000}", " \u{a0} "] {
        let refused = platform.create_context(json!({"external_id": blank})).await;
        assert_error(&refused, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.1["error"].as_str().unwrap().contains("whitespace"), "{blank:?}: {}", refused.1);
        assert_error(
            &platform.post("/users", json!({"user": {"external_id": blank}})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
        assert_error(
            &platform.post("/users", json!({"user": {"external_id": "u-1", "external_group_id": blank}})).await,
            StatusCode::UNPROCESSABLE_ENTITY,
        );
    }
    assert_eq!(platform.create_context(json!({"external_id": "kept"})).await.0, StatusCode::OK);
    let rename =
        send(platform.request(Method::PATCH, "/contexts/kept").json(&json!({"context": {"external_id": "  "}})));
    assert_error(&rename.await, StatusCode::UNPROCESSABLE_ENTITY);
    let ids: Vec<Value> =
        platform.all_pages("/contexts", "contexts", 100).await.iter().map(|c| c["external_id"].clone()).collect();
    assert_eq!(ids, vec![json!("kept")], "nothing blank was stored and the rename did not happen");
}

/// Issue 9, item 17b: a context token whose `nbf` lies in the future is not valid yet.
#[tokio::test]
async fn context_tokens_are_refused_before_their_nbf() {
    let platform = TestPlatform::empty().await;
    let (_, created) = platform.create_context(json!({"external_id": "early-bird"})).await;
    let claims = jwt_claims(created["access_token"].as_str().unwrap());
    let key = platform.signing_key().await;
    let sign_with_nbf = |nbf: i64| {
        let mut claims = claims.clone();
        claims["nbf"] = json!(nbf);
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_secret(&key)).unwrap()
    };
    let session_url = platform.url("/api/platform_user/session");
    let now = chrono::Utc::now().timestamp();

    let refused = send(platform.http.get(&session_url).bearer_auth(sign_with_nbf(now + 3600))).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED);
    let refused = send(platform.http.get(&session_url).bearer_auth(sign_with_nbf(now + 60))).await;
    assert_error(&refused, StatusCode::UNAUTHORIZED);
    let (status, body) = send(platform.http.get(&session_url).bearer_auth(sign_with_nbf(now - 5))).await;
    assert_eq!(status, StatusCode::OK, "a token valid since a moment ago works: {body}");
}

/// Issue 9, item 14: an overlong query parameter is a 400 with a JSON error on every list
/// route (a 49,999-character search used to be a 500 from SQLite's LIKE).
#[tokio::test]
async fn overlong_query_parameters_get_400_on_every_list_route() {
    let platform = TestPlatform::empty().await;
    platform.create_context(json!({"external_id": "org-1"})).await;
    let long = "a".repeat(49_999);
    for path in [
        format!("/contexts?search={long}"),
        format!("/contexts?cursor={long}"),
        format!("/connectors?cursor={long}"),
        format!("/connections?connector={long}"),
        format!("/connections?context={long}"),
        format!("/connections?status={long}"),
        format!("/contexts/org-1/connections?cursor={long}"),
        format!("/contexts?limit={}", "9".repeat(5000)),
    ] {
        let refused = platform.get(&path).await;
        assert_error(&refused, StatusCode::BAD_REQUEST);
        let message = refused.1["error"].as_str().unwrap();
        assert!(message.contains("characters"), "{}: {message}", &path[..30]);
    }
    let (status, body) = platform.get(&format!("/contexts?search={}", "é".repeat(1024))).await;
    assert_eq!((status, &body["contexts"]), (StatusCode::OK, &json!([])), "a long but sane search still works");
}
