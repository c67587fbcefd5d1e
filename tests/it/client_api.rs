//! The client API xkit.js calls (C9-C17 under `/api/platform_user`), over real HTTP against the
//! in-process server with Bearer context tokens: every route, each one scoped to the token's
//! context (another context's id, slug or authorization answers 404 and never its data), the
//! credential only while usable, refresh on read, one-time tokens, and API-key connectors.

use reqwest::header::{SET_COOKIE, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::oauth::{browser, location, page_post, query_value};
use crate::support::server::{TestPlatform, assert_error, send};

/// A demo context with an expired Jira token that the demo's sandbox provider refreshes.
const UMBRELLA: &str = "org_umbrella";

/// A context token for an existing context of `platform`, signed with its key.
async fn token_for(platform: &TestPlatform, external_id: &str, platform_slug: &str) -> String {
    let ttl = xkit_dash::server::DEFAULT_TOKEN_TTL;
    platform.signer(platform_slug, ttl).await.mint(external_id).unwrap()
}

/// A new context on `platform` and its context token.
async fn new_context(platform: &TestPlatform, external_id: &str) -> String {
    let (status, created) = platform.create_context(json!({ "external_id": external_id })).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["access_token"].as_str().unwrap().to_owned()
}

/// A request to `/api/platform_user{path}` as xkit.js sends it, with `token` as Bearer.
fn user_request(platform: &TestPlatform, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    platform
        .http
        .request(method, platform.url(&format!("/api/platform_user{path}")))
        .header("xkit-js-version", "3.14.1")
        .bearer_auth(token)
}

async fn user_get(platform: &TestPlatform, path: &str, token: &str) -> (StatusCode, Value) {
    send(user_request(platform, Method::GET, path, token)).await
}

/// The ids of a `{"connections": [...]}` answer, sorted.
fn ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["connections"]
        .as_array()
        .unwrap_or_else(|| panic!("no connections in {body}"))
        .iter()
        .map(|connection| connection["id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids
}

/// The context's enabled connections as the Platform API lists them, with their credentials
/// read one by one: what the client API must agree with.
async fn platform_view(platform: &TestPlatform, external_id: &str) -> Vec<Value> {
    platform.all_pages(&format!("/contexts/{external_id}/connections"), "connections", 100).await
}

/// Every context route refuses a request without a token, and one with a bad token, with 401
/// and a Bearer challenge, before anything else of it is read.
#[tokio::test]
async fn every_context_route_refuses_a_missing_or_bad_token_with_a_bearer_challenge() {
    let platform = TestPlatform::demo().await;
    let routes = [
        (Method::GET, "/connectors"),
        (Method::GET, "/connectors/slack"),
        (Method::GET, "/connections"),
        (Method::GET, "/connections?slug=slack"),
        (Method::GET, "/connections/slack"),
        (Method::POST, "/connections/slack"),
        (Method::DELETE, "/connections/slack"),
        (Method::GET, "/connection/some-id"),
        (Method::DELETE, "/connection/some-id"),
        (Method::POST, "/sessions/ott"),
        (Method::GET, "/authorizations/slack/1"),
        (Method::PUT, "/authorizations/sendgrid"),
    ];
    for (method, path) in routes {
        for token in [None, Some("not-a-jwt")] {
            let mut request = platform
                .http
                .request(method.clone(), platform.url(&format!("/api/platform_user{path}")))
                .json(&json!({}));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{method} {path} with {token:?}");
            let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap().to_owned();
            assert!(challenge.starts_with("Bearer "), "{method} {path}: {challenge}");
            let body: Value = response.json().await.unwrap();
            assert!(body["error"].as_str().is_some_and(|error| !error.is_empty()), "{method} {path}: {body}");
        }
    }
}

/// C7-C10: the public lists need no token; with one, `GET /connectors/:slug` embeds the
/// context's own connections to it, and only those, without credentials.
#[tokio::test]
async fn connectors_are_public_and_embed_only_the_contexts_own_connections() {
    let platform = TestPlatform::demo().await;
    let token = token_for(&platform, UMBRELLA, "northwind").await;
    let (status, public) = send(platform.http.get(platform.url("/api/platform_user/platform/connectors"))).await;
    assert_eq!(status, StatusCode::OK, "{public}");
    let (status, listed) = user_get(&platform, "/connectors", &token).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(listed["connectors"], public["connectors"], "the same connectors, token or not");
    assert!(listed["connectors"].as_array().unwrap().iter().any(|connector| connector["slug"] == "sendgrid"));

    let (status, one) = user_get(&platform, "/connectors/jira", &token).await;
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(one["connector"]["slug"], "jira");
    assert!(one["connector"]["about"].is_string(), "{one}");
    let own: Vec<String> = platform_view(&platform, UMBRELLA)
        .await
        .iter()
        .filter(|connection| connection["connector"]["slug"] == "jira")
        .map(|connection| connection["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(!own.is_empty());
    assert_eq!(ids(&one["connector"]), own);
    for connection in one["connector"]["connections"].as_array().unwrap() {
        assert!(connection["authorization"].get("access_token").is_none(), "{connection}");
    }
    let newcomer = new_context(&platform, "tenant-connectors").await;
    let (_, theirs) = user_get(&platform, "/connectors/jira", &newcomer).await;
    assert_eq!(theirs["connector"]["connections"], json!([]), "another context sees none of them");
    assert_error(&user_get(&platform, "/connectors/no-such", &token).await, StatusCode::NOT_FOUND);
}

/// C11-C13 and C15 never reach another context's rows: its ids and slugs answer 404 with no
/// trace of its data, a removal of its connection changes nothing, and the lists hold exactly
/// the token's context's enabled connections.
#[tokio::test]
async fn connections_are_scoped_to_the_tokens_context() {
    let platform = TestPlatform::demo().await;
    let umbrella = token_for(&platform, UMBRELLA, "northwind").await;
    let acme = token_for(&platform, "org_acme", "northwind").await;
    let theirs = platform_view(&platform, UMBRELLA).await;
    let mine = platform_view(&platform, "org_acme").await;

    let (status, listed) = user_get(&platform, "/connections", &acme).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mut expected: Vec<String> = mine.iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect();
    expected.sort();
    assert_eq!(ids(&listed), expected);
    for connection in listed["connections"].as_array().unwrap() {
        assert!(connection.get("context").is_none(), "{connection}");
        assert!(connection["authorization"].get("access_token").is_none(), "lists carry no credential");
    }
    let slug = mine[0]["connector"]["slug"].as_str().unwrap();
    let (_, filtered) = user_get(&platform, &format!("/connections?slug={slug}"), &acme).await;
    let filtered_ids = ids(&filtered);
    assert!(!filtered_ids.is_empty());
    assert!(filtered["connections"].as_array().unwrap().iter().all(|c| c["connector"]["slug"] == slug));

    // Umbrella's connection, asked for with Acme's token.
    let victim = &theirs[0];
    let victim_id = victim["id"].as_str().unwrap();
    let (status, own) = user_get(&platform, &format!("/connection/{victim_id}"), &umbrella).await;
    assert_eq!(status, StatusCode::OK, "{own}");
    let authorization_id = own["connection"]["authorization"]["id"].as_str().unwrap().to_owned();
    let victim_slug = victim["connector"]["slug"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/connection/{victim_id}")),
        (Method::DELETE, format!("/connection/{victim_id}")),
        (Method::GET, format!("/authorizations/{victim_slug}/{authorization_id}")),
    ] {
        let response = user_request(&platform, method.clone(), &path, &acme).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let text = response.text().await.unwrap();
        assert!(!text.contains(UMBRELLA) && !text.contains("umbrella"), "{method} {path}: {text}");
    }
    let (_, still) = user_get(&platform, &format!("/connection/{victim_id}"), &umbrella).await;
    assert_eq!(still["connection"]["enabled"], true, "the refused removal changed nothing: {still}");
    // A connector Umbrella uses and a new context never did: 404, not Umbrella's connection.
    let newcomer = new_context(&platform, "tenant-scoped").await;
    assert_error(&user_get(&platform, &format!("/connections/{victim_slug}"), &newcomer).await, StatusCode::NOT_FOUND);
    let (_, none) = user_get(&platform, "/connections", &newcomer).await;
    assert_eq!(none["connections"], json!([]));
}

/// C12/C13 serve `access_token` only while the connection is usable (enabled and active),
/// and name the authorizer prototype that the authorization routes take.
#[tokio::test]
async fn a_connection_read_carries_the_credential_only_when_usable() {
    let platform = TestPlatform::seeded(
        r#"{
        "connectors": [{"slug": "crm", "name": "CRM"}, {"slug": "mail", "name": "Mail"}, {"slug": "chat", "name": "Chat"}],
        "contexts": [{"external_id": "u1"}],
        "connections": [
            {"id": "ok", "context": "u1", "connector": "crm",
             "authorization": {"status": "active", "access_token": "at-usable"}},
            {"id": "broken", "context": "u1", "connector": "mail",
             "authorization": {"status": "error", "access_token": "at-broken", "error_code": "invalid_grant"}},
            {"id": "removed", "context": "u1", "connector": "chat", "enabled": false,
             "authorization": {"status": "active", "access_token": "at-removed"}}
        ]}"#,
    )
    .await;
    let (_, platform_record) = send(platform.http.get(platform.url("/api/platform_user/platform"))).await;
    let token = token_for(&platform, "u1", platform_record["platform"]["slug"].as_str().unwrap()).await;

    for path in ["/connections/crm", "/connection/ok"] {
        let (status, body) = user_get(&platform, path, &token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let authorization = &body["connection"]["authorization"];
        assert_eq!(authorization["access_token"], "at-usable", "{path}");
        assert_eq!(authorization["authorizer"]["prototype"]["slug"], "crm", "{path}");
        assert_eq!(body["connection"]["connector"]["slug"], "crm");
    }
    for (path, enabled) in [
        ("/connections/mail", true),
        ("/connection/broken", true),
        ("/connections/chat", false),
        ("/connection/removed", false),
    ] {
        let (status, body) = user_get(&platform, path, &token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["connection"]["enabled"], enabled, "{path}");
        let authorization = &body["connection"]["authorization"];
        assert!(
            authorization.get("access_token").is_none() && authorization.get("credential").is_none(),
            "{path}: {body}"
        );
    }
    let (_, listed) = user_get(&platform, "/connections", &token).await;
    assert_eq!(ids(&listed), ["broken", "ok"], "removed connections are not listed");
    assert_error(&user_get(&platform, "/connection/no-such-id", &token).await, StatusCode::NOT_FOUND);
}

/// C12/C13 refresh an expired token before answering, as the Platform API does: the demo's
/// Umbrella Jira token expired long ago, and the read returns one the sandbox just issued.
#[tokio::test]
async fn an_expired_credential_is_refreshed_on_read() {
    let platform = TestPlatform::demo().await;
    let token = token_for(&platform, UMBRELLA, "northwind").await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let (status, body) = user_get(&platform, "/connections/jira", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let authorization = &body["connection"]["authorization"];
    let credential = authorization["access_token"].as_str().expect("a credential");
    assert!(credential.starts_with("sbx_at_"), "issued by the sandbox on this read: {credential}");
    let expires_at = chrono::DateTime::parse_from_rfc3339(authorization["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires_at > started + chrono::Duration::minutes(50), "{authorization}");
    let id = body["connection"]["id"].as_str().unwrap();
    let (_, by_id) = user_get(&platform, &format!("/connection/{id}"), &token).await;
    assert_eq!(by_id["connection"]["authorization"]["access_token"], credential, "fresh now: not refreshed again");
}

/// C14 starts the catalog's OAuth flow: `awaiting_callback` with the provider's authorize URL,
/// a cookie binding the flow to this browser, C17 reading the authorization; the consent on
/// the sandbox then lands through the catalog's callback and the connection reads active with
/// its token. `{"id"}` re-authorizes that connection, or creates one under a new id, but
/// never touches another context's.
#[tokio::test]
async fn connect_starts_the_catalogs_oauth_flow_and_reconnect_keeps_the_id() {
    let platform = TestPlatform::demo().await;
    let token = new_context(&platform, "tenant-connect").await;
    let popup = browser();
    let connect = |body: Value| {
        popup
            .post(platform.url("/api/platform_user/connections/slack"))
            .header("xkit-js-version", "3.14.1")
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let response = connect(json!({})).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("xkit_flow_") && cookie.contains("HttpOnly"), "{cookie}");
    let started: Value = response.json().await.unwrap();
    let connection = &started["connection"];
    let authorization = &connection["authorization"];
    assert_eq!(authorization["status"], "awaiting_callback", "{started}");
    assert_eq!(authorization["authorizer"]["prototype"]["slug"], "slack");
    assert_eq!(connection["connector"]["slug"], "slack");
    let authorize_url = url::Url::parse(authorization["authorize_url"].as_str().unwrap()).unwrap();
    assert_eq!(authorize_url.path(), "/sandbox/oauth/authorize", "{authorize_url}");
    let id = connection["id"].as_str().unwrap().to_owned();
    let authorization_id = authorization["id"].as_str().unwrap().to_owned();
    let (status, read) = user_get(&platform, &format!("/authorizations/slack/{authorization_id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["authorization"]["status"], "awaiting_callback");
    assert_error(
        &user_get(&platform, &format!("/authorizations/github/{authorization_id}"), &token).await,
        StatusCode::NOT_FOUND,
    );

    // The popup consents on the sandbox and comes back to the catalog's callback.
    let mut form: Vec<(String, String)> = authorize_url.query_pairs().into_owned().collect();
    form.extend([("subject".into(), "tenant".into()), ("decision".into(), "approve".into())]);
    let approved = page_post(&popup, platform.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
    let back = location(&approved).expect("back to the callback with a code");
    assert!(query_value(&back, "code").is_some(), "{back}");
    let landed = popup.get(back).send().await.unwrap();
    assert_eq!(landed.status(), StatusCode::OK, "{}", landed.text().await.unwrap());
    let (_, active) = user_get(&platform, "/connections/slack", &token).await;
    assert_eq!(active["connection"]["id"], id.as_str());
    assert_eq!(active["connection"]["authorization"]["status"], "active", "{active}");
    assert!(active["connection"]["authorization"]["access_token"].as_str().is_some_and(|t| t.starts_with("sbx_at_")));
    let (_, read) = user_get(&platform, &format!("/authorizations/slack/{authorization_id}"), &token).await;
    assert_eq!(read["authorization"]["status"], "active");
    assert!(read["authorization"].get("access_token").is_none(), "the authorization route serves no credential");

    // reconnect(connection): the same id, waiting again, its old credential dropped.
    let again: Value = connect(json!({"id": id})).await.unwrap().json().await.unwrap();
    assert_eq!(again["connection"]["id"], id.as_str());
    assert_eq!(again["connection"]["authorization"]["status"], "awaiting_callback");
    assert!(again["connection"]["authorization"].get("access_token").is_none());
    // addConnection(slug, id): a new connection under the client's id.
    let chosen = uuid::Uuid::new_v4().to_string();
    let added: Value = connect(json!({"id": chosen})).await.unwrap().json().await.unwrap();
    assert_eq!(added["connection"]["id"], chosen.as_str(), "{added}");
    let (_, listed) = user_get(&platform, "/connections?slug=slack", &token).await;
    let mut expected = vec![id.clone(), chosen];
    expected.sort();
    assert_eq!(ids(&listed), expected);

    // Another context's connection id, and ids that cannot be put in a path.
    let foreign = platform_view(&platform, UMBRELLA).await;
    let foreign_slack = foreign.iter().find(|c| c["connector"]["slug"] == "slack").map(|c| c["id"].clone());
    let foreign_any = foreign[0]["id"].as_str().unwrap().to_owned();
    let foreign_id = foreign_slack.and_then(|id| id.as_str().map(str::to_owned)).unwrap_or(foreign_any);
    let refused = connect(json!({"id": foreign_id})).await.unwrap();
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    let umbrella = token_for(&platform, UMBRELLA, "northwind").await;
    let (_, untouched) = user_get(&platform, &format!("/connection/{foreign_id}"), &umbrella).await;
    assert_ne!(untouched["connection"]["authorization"]["status"], "awaiting_callback", "{untouched}");
    for bad in ["", "a/b", "spaces here"] {
        assert_eq!(connect(json!({"id": bad})).await.unwrap().status(), StatusCode::BAD_REQUEST, "{bad:?}");
    }
    let unknown = popup
        .post(platform.url("/api/platform_user/connections/no-such"))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
}

/// C15: both removals answer `{"connection"}` with `connector.slug` (xkit.js reads it), the
/// connection disabled and no longer listed.
#[tokio::test]
async fn removals_answer_the_disabled_connection_with_its_connector() {
    let platform = TestPlatform::demo().await;
    let token = token_for(&platform, UMBRELLA, "northwind").await;
    let mine = platform_view(&platform, UMBRELLA).await;
    assert!(mine.len() >= 2, "the demo gives Umbrella several connections");
    let by_slug = mine[0]["connector"]["slug"].as_str().unwrap().to_owned();
    let other = mine.iter().find(|c| c["connector"]["slug"] != by_slug.as_str()).unwrap();
    let by_id = other["id"].as_str().unwrap().to_owned();

    let (status, removed) =
        send(user_request(&platform, Method::DELETE, &format!("/connections/{by_slug}"), &token)).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["connection"]["connector"]["slug"], by_slug.as_str());
    assert_eq!(removed["connection"]["enabled"], false);
    let (status, removed) =
        send(user_request(&platform, Method::DELETE, &format!("/connection/{by_id}"), &token)).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["connection"]["id"], by_id.as_str());
    assert_eq!(removed["connection"]["connector"]["slug"], other["connector"]["slug"]);
    assert_eq!(removed["connection"]["enabled"], false);

    let (_, listed) = user_get(&platform, "/connections", &token).await;
    let listed = ids(&listed);
    assert!(!listed.contains(&by_id), "{listed:?}");
    assert!(
        mine.iter()
            .filter(|c| c["connector"]["slug"] == by_slug.as_str())
            .all(|c| !listed.contains(&c["id"].as_str().unwrap().to_owned()))
    );
    assert_error(
        &send(user_request(&platform, Method::DELETE, "/connections/sendgrid", &token)).await,
        StatusCode::NOT_FOUND,
    );
}

/// `POST /sessions/ott`: a fresh token each time, stored only as its hash, spent once.
#[tokio::test]
async fn one_time_tokens_are_single_use_and_stored_hashed() {
    let platform = TestPlatform::demo().await;
    let token = new_context(&platform, "tenant-ott").await;
    let mint = || send(user_request(&platform, Method::POST, "/sessions/ott", &token));
    let (status, first) = mint().await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let ott = first["ott"].as_str().expect("an ott").to_owned();
    assert!(ott.len() >= 40, "{ott}");
    let (_, second) = mint().await;
    assert_ne!(second["ott"], first["ott"]);

    // The SQLite file's bytes (PostgreSQL's files are not the test's to read; the same store
    // code keeps only the hash there).
    if crate::BACKEND == crate::support::Backend::Sqlite {
        let database = xkit_dash::server::database_path(platform.dir.path());
        let raw = std::fs::read(&database).unwrap();
        let wal = std::fs::read(format!("{}-wal", database.display())).unwrap_or_default();
        for bytes in [&raw, &wal] {
            assert!(!bytes.windows(ott.len()).any(|window| window == ott.as_bytes()), "the token is not stored as is");
        }
    }
    let store = platform.store().await;
    let hash: [u8; 32] = Sha256::digest(ott.as_bytes()).into();
    assert_eq!(store.take_one_time_token(hash).await.unwrap().as_deref(), Some("tenant-ott"));
    assert_eq!(store.take_one_time_token(hash).await.unwrap(), None, "spent");
    assert_eq!(store.take_one_time_token(Sha256::digest(b"ott_forged").into()).await.unwrap(), None);
    // Short-lived: one past its expiry is refused.
    let late: [u8; 32] = Sha256::digest(b"ott_late").into();
    let past = chrono::Utc::now() - chrono::Duration::seconds(1);
    store.add_one_time_token(late, "tenant-ott".into(), past).await.unwrap();
    assert_eq!(store.take_one_time_token(late).await.unwrap(), None, "expired");
}

/// C14 + C16 for a connector that collects an API key (the demo's SendGrid): the connection
/// waits with a `state`, and the submitted field makes it active with that key as credential;
/// a wrong state, another context's token, or an OAuth connector change nothing.
#[tokio::test]
async fn an_api_key_connector_becomes_active_from_a_submitted_field() {
    let platform = TestPlatform::demo().await;
    let token = new_context(&platform, "tenant-key").await;
    let stranger = new_context(&platform, "tenant-stranger").await;
    let (status, started) =
        send(user_request(&platform, Method::POST, "/connections/sendgrid", &token).json(&json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let authorization = &started["connection"]["authorization"];
    assert_eq!(authorization["status"], "awaiting_callback");
    assert_eq!(authorization["authorizer"]["prototype"]["slug"], "sendgrid");
    assert!(authorization.get("authorize_url").is_none(), "{started}");
    let state = authorization["state"].as_str().expect("a state to present").to_owned();
    let submit = |token: &str, body: Value| {
        send(user_request(&platform, Method::PUT, "/authorizations/sendgrid", token).json(&body))
    };
    assert_error(&submit(&token, json!({"state": "wrong", "api_key": "SG.key"})).await, StatusCode::NOT_FOUND);
    assert_error(&submit(&stranger, json!({"state": state, "api_key": "SG.key"})).await, StatusCode::NOT_FOUND);
    assert_error(&submit(&token, json!({"state": state})).await, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&submit(&token, json!({"api_key": "SG.key"})).await, StatusCode::BAD_REQUEST);
    let oauth =
        send(user_request(&platform, Method::PUT, "/authorizations/slack", &token).json(&json!({"state": state})));
    assert_error(&oauth.await, StatusCode::BAD_REQUEST);
    let (_, waiting) = user_get(&platform, "/connections/sendgrid", &token).await;
    assert_eq!(waiting["connection"]["authorization"]["status"], "awaiting_callback");

    let (status, submitted) = submit(&token, json!({"state": state, "api_key": "SG.key"})).await;
    assert_eq!(status, StatusCode::OK, "{submitted}");
    assert_eq!(submitted["authorization"]["status"], "active");
    let (_, active) = user_get(&platform, "/connections/sendgrid", &token).await;
    assert_eq!(active["connection"]["authorization"]["access_token"], "SG.key", "{active}");
    assert_error(&submit(&token, json!({"state": state, "api_key": "SG.again"})).await, StatusCode::NOT_FOUND);

    // SendGrid allows one connection per context: connecting again re-authorizes that one.
    let (_, again) =
        send(user_request(&platform, Method::POST, "/connections/sendgrid", &token).json(&json!({}))).await;
    assert_eq!(again["connection"]["id"], started["connection"]["id"], "{again}");
    assert_eq!(again["connection"]["authorization"]["status"], "awaiting_callback");
    let (_, listed) = user_get(&platform, "/connections?slug=sendgrid", &token).await;
    assert_eq!(listed["connections"].as_array().unwrap().len(), 1, "{listed}");
}

/// Item 8: `connection CONTEXT SLUG` prints the connection's id, said to be the one xkit.js
/// takes, and the client API indeed finds the connection by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_command_shows_the_id_the_client_api_takes() {
    let platform = TestPlatform::demo().await;
    let home = Home::new();
    let mut command = home.against(&platform, &["connection", UMBRELLA, "jira"]);
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let printed = stdout(&output);
    let line = printed.lines().find(|line| line.starts_with("Connection id")).unwrap_or_else(|| panic!("{printed}"));
    assert!(line.contains("the same id in xkit.js"), "{line}");
    let id = line.split_whitespace().nth(2).unwrap();
    let token = token_for(&platform, UMBRELLA, "northwind").await;
    let (status, body) = user_get(&platform, &format!("/connection/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connection"]["connector"]["slug"], "jira");
}
