//! The token lifecycle over real HTTP: refresh on read against a real, independent OAuth2
//! server (oidc-provider on 127.0.0.1), the catalog's repair flow through its sign-in and
//! consent pages, the bundled sandbox provider's own rules, and the bad input of each.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::support::oauth::{
    CLIENT_ID, CLIENT_SECRET, OidcProvider, browser, load_seed, location, page_post, query_value, sign_in_and_consent,
    stored_refresh_token,
};
use crate::support::server::{TestPlatform, assert_error, authorization, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;
use xkit_dash::server::ServerConfig;

const CONTEXT: &str = "tenant-1";

/// A seed with one connector authorizing against `provider` and the given connections of
/// [`CONTEXT`] to it.
fn seed(provider_urls: (&str, &str), connections: Vec<Value>) -> String {
    json!({
        "connectors": [{
            "slug": "idp", "name": "Test IdP",
            "oauth": {"authorize_url": provider_urls.0, "token_url": provider_urls.1,
                      "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scopes": ["openid", "offline_access"]}
        }],
        "contexts": [{"external_id": CONTEXT}],
        "connections": connections
    })
    .to_string()
}

/// An active connection holding `grant`'s tokens, expiring at `expires_at` (seed time syntax).
fn active_connection(id: &str, grant: &Value, expires_at: &str) -> Value {
    json!({"id": id, "context": CONTEXT, "connector": "idp", "authorization": {
        "status": "active", "access_token": grant["access_token"], "refresh_token": grant["refresh_token"],
        "expires_at": expires_at}})
}

async fn platform_with(provider: &OidcProvider, connections: Vec<Value>) -> TestPlatform {
    let platform = TestPlatform::empty().await;
    load_seed(&platform, &seed((&provider.authorize_url, &provider.token_url), connections)).await;
    platform
}

// ---- refresh on read against oidc-provider -----------------------------------------------

/// An expired token is refreshed when read; the rotated refresh token is stored and works, the
/// old one is refused by the provider (and, as RFC 9700 asks, its reuse kills the grant, which
/// the platform then reports as `invalid_grant`).
#[tokio::test]
async fn an_expired_token_refreshes_on_read_with_rotation() {
    let provider = OidcProvider::start(&[], 3600).await;
    let grant = provider.grant("alice").await;
    let platform = platform_with(&provider, vec![active_connection("c1", &grant, "now-1m")]).await;
    let old_refresh = grant["refresh_token"].as_str().unwrap();
    let before = provider.token_requests().await;

    let (status, body) = platform.get("/connections/c1").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refreshed = authorization(&body);
    assert_eq!(refreshed["status"], "active");
    let credential = refreshed["credential"].as_str().expect("a credential");
    assert_ne!(credential, grant["access_token"].as_str().unwrap(), "a new access token is served");
    assert_eq!(refreshed["access_token"], refreshed["credential"]);
    let expires_at: chrono::DateTime<chrono::Utc> = serde_json::from_value(refreshed["expires_at"].clone()).unwrap();
    assert!(expires_at > chrono::Utc::now() + chrono::Duration::minutes(50), "expires_in counted from now");
    assert!(refreshed["last_refreshed_at"].is_string() && refreshed.get("refresh_error").is_none(), "{refreshed}");
    assert_eq!(provider.token_requests().await, before + 1);

    let stored = stored_refresh_token(&platform, "c1").await.expect("a refresh token");
    assert_ne!(stored, old_refresh, "the rotated refresh token replaced the old one");
    // A fresh token is not refreshed again on read; a forced refresh uses the stored token.
    let (_, again) = platform.get(&format!("/contexts/{CONTEXT}/connections/idp")).await;
    assert_eq!(authorization(&again)["credential"], credential);
    assert_eq!(provider.token_requests().await, before + 1);
    let (status, forced) = platform.post("/connections/c1/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(authorization(&forced)["status"], "active");
    assert_ne!(authorization(&forced)["credential"], credential);

    // The first refresh token was consumed: the provider refuses it.
    let (status, refused) =
        provider.token_request(&[("grant_type", "refresh_token"), ("refresh_token", old_refresh)]).await;
    assert_eq!((status, refused["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{refused}");
    // That reuse revoked the whole grant, so the next refresh fails for good.
    let (_, dead) = platform.post("/connections/c1/refresh", json!({})).await;
    assert_eq!(authorization(&dead)["status"], "error", "{dead}");
    assert_eq!(authorization(&dead)["error_code"], "invalid_grant");
}

/// Single flight: 20 concurrent reads of one expired connection, through both read routes,
/// make exactly one token request and all get the same new token.
#[tokio::test]
async fn twenty_concurrent_reads_make_one_token_request() {
    let provider = OidcProvider::start(&[], 3600).await;
    let grant = provider.grant("bob").await;
    let platform = Arc::new(platform_with(&provider, vec![active_connection("c1", &grant, "now-10m")]).await);
    let before = provider.token_requests().await;

    let reads = (0..20).map(|index| {
        let platform = platform.clone();
        tokio::spawn(async move {
            let path =
                if index % 2 == 0 { "/connections/c1".to_owned() } else { format!("/users/{CONTEXT}/connections/idp") };
            platform.get(&path).await
        })
    });
    let answers = futures::future::join_all(reads).await;
    let mut credentials = std::collections::HashSet::new();
    for answer in answers {
        let (status, body) = answer.unwrap();
        assert_eq!(status, StatusCode::OK, "{body}");
        credentials.insert(authorization(&body)["credential"].as_str().unwrap().to_owned());
    }
    assert_eq!(provider.token_requests().await - before, 1, "exactly one refresh reached the provider");
    assert_eq!(credentials.len(), 1, "every reader got the one new token: {credentials:?}");
    assert!(!credentials.contains(grant["access_token"].as_str().unwrap()));
}

/// A grant revoked at the provider: the next read turns the connection to `error` with the
/// provider's `invalid_grant` and description, serves no credential, and listings agree.
#[tokio::test]
async fn a_revoked_grant_turns_the_connection_to_error() {
    let provider = OidcProvider::start(&[], 3600).await;
    let grant = provider.grant("carol").await;
    provider.revoke(grant["refresh_token"].as_str().unwrap()).await;
    let platform = platform_with(&provider, vec![active_connection("c1", &grant, "now+2m")]).await;

    let (status, body) = platform.get(&format!("/contexts/{CONTEXT}/connections/idp")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let failed = authorization(&body);
    assert_eq!(failed["status"], "error", "{failed}");
    assert_eq!(failed["error_code"], "invalid_grant");
    assert_eq!(failed["error_message"], "grant request is invalid");
    assert!(failed.get("credential").is_none() && failed.get("access_token").is_none(), "{failed}");
    assert_eq!(body["connection"]["enabled"], true, "a dead grant does not disable the connection");

    let errors = platform.all_pages("/connections?status=error", "connections", 100).await;
    assert_eq!(errors.len(), 1, "the stored health follows the status");
    assert!(platform.all_pages("/connections?status=active", "connections", 100).await.is_empty());
    assert!(stored_refresh_token(&platform, "c1").await.is_none());
}

/// The provider down: a refresh failure is transient. The connection stays active with its
/// still-valid token and reports `refresh_error`; an already expired one stays active too (the
/// outage is not the user's to fix) and keeps its token, flagged the same way.
#[tokio::test]
async fn a_provider_outage_is_transient() {
    let mut provider = OidcProvider::start(&[], 3600).await;
    let first = provider.grant("dave").await;
    let second = provider.grant("erin").await;
    let platform = platform_with(
        &provider,
        vec![active_connection("expiring", &first, "now+2m"), active_connection("expired", &second, "now-1h")],
    )
    .await;
    provider.kill().await;

    for (id, grant) in [("expiring", &first), ("expired", &second)] {
        let (status, body) = platform.get(&format!("/connections/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let kept = authorization(&body);
        assert_eq!(kept["status"], "active", "{id}: {kept}");
        assert_eq!(kept["credential"], grant["access_token"], "{id} keeps its token");
        let error = kept["refresh_error"].as_str().unwrap_or_else(|| panic!("{id}: no refresh_error in {kept}"));
        assert!(error.contains("cannot connect"), "{error}");
        assert_eq!(
            stored_refresh_token(&platform, id).await.as_deref(),
            grant["refresh_token"].as_str(),
            "the refresh token is kept for when the provider is back"
        );
    }
    assert_eq!(platform.all_pages("/connections?status=active", "connections", 100).await.len(), 2);
    // A forced refresh tries again (our own cooldown does not bind an admin) and reports it.
    let (status, forced) = platform.post("/connections/expiring/refresh", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{forced}");
    assert_eq!(authorization(&forced)["status"], "active");
    assert!(authorization(&forced)["refresh_error"].is_string());
}

/// A token endpoint answering 429 with `Retry-After`: transient, the wait is honoured by reads
/// and by forced refreshes (429 with `Retry-After` from our API), and nothing else changes.
#[tokio::test]
async fn a_rate_limited_token_endpoint_is_left_alone_for_its_retry_after() {
    // A provider that only ever rate-limits (a stand-in for a third party, not for our code).
    let hits = Arc::new(AtomicU64::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/token",
        axum::routing::post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "120")], axum::Json(json!({"error": "rate_limited"})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let token_url = format!("http://{}/token", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    // A provider's Retry-After is kept by the node it answered (in memory, not yet in the
    // database): another node asks once more before it holds off too.
    let platform = TestPlatform::empty().await.single_node().await;
    let grant = json!({"access_token": "still-valid-token", "refresh_token": "rt-1"});
    load_seed(
        &platform,
        &seed(("https://idp.invalid/authorize", &token_url), vec![active_connection("c1", &grant, "now+1m")]),
    )
    .await;

    let (_, body) = platform.get("/connections/c1").await;
    assert_eq!(authorization(&body)["status"], "active");
    assert_eq!(authorization(&body)["credential"], "still-valid-token");
    assert_eq!(
        authorization(&body)["refresh_error"],
        "token endpoint answered 429 Too Many Requests (Retry-After: 120s)"
    );
    let (_, _) = platform.get("/connections/c1").await;
    assert_eq!(hits.load(Ordering::SeqCst), 1, "reads wait for the Retry-After");
    let response = platform.request(Method::POST, "/connections/c1/refresh").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((100..=120).contains(&retry_after), "{retry_after}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a forced refresh honours the provider's wait too");
}

// ---- the catalog's repair flow -------------------------------------------------------------

/// The whole repair: the API mints a link, the catalog page shows the broken connection, its
/// Reconnect button starts an authorization bound to that connection (`awaiting_callback`),
/// the user signs in and consents at the real provider, the callback exchanges the code, and
/// the same connection is `active` with the provider's token, as the dashboard's data source
/// (the API client's bulk listing) sees on its next read. The link cannot be used twice.
#[tokio::test]
async fn a_broken_connection_is_repaired_through_the_catalog() {
    let platform = TestPlatform::empty().await;
    let callback = platform.url("/catalog/oauth/callback");
    let provider = OidcProvider::start(&[&callback], 3600).await;
    let broken = json!({"id": "c1", "context": CONTEXT, "connector": "idp", "authorization": {
        "status": "error", "error_code": "invalid_grant", "error_message": "grant request is invalid"}});
    load_seed(&platform, &seed((&provider.authorize_url, &provider.token_url), vec![broken])).await;
    let client = platform.client();

    let link = client.repair_link(CONTEXT, "idp").await.expect("a repair link");
    let link_url = Url::parse(&link.url).unwrap();
    assert!(link.url.starts_with(&platform.url("/connectors/idp?token=xkrt_")), "{}", link.url);
    assert!(link.expires_at.unwrap() > chrono::Utc::now());

    let browser = browser();
    let page = browser.get(link_url.clone()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("invalid_grant") && html.contains("Reconnect") && html.contains("c1"), "{html}");
    let token = query_value(&link_url, "token").unwrap();
    let started = page_post(&browser, platform.url("/connectors/idp/authorize"))
        .form(&[("token", token.as_str()), ("connection_id", "c1")])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let to_provider = location(&started).unwrap();
    assert!(to_provider.as_str().starts_with(&provider.authorize_url), "{to_provider}");
    let state = query_value(&to_provider, "state").unwrap();
    let (_, pending) = platform.get("/connections/c1").await;
    assert_eq!(authorization(&pending)["status"], "awaiting_callback", "{pending}");
    assert_eq!(authorization(&pending)["state"], state.as_str(), "the state is bound to this connection");

    let back = sign_in_and_consent(&browser, to_provider.as_str(), &callback, "frank").await;
    assert_eq!(query_value(&back, "state").as_deref(), Some(state.as_str()));
    let done = browser.get(back.clone()).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Connected"));

    let (_, repaired) = platform.get("/connections/c1").await;
    let repaired = authorization(&repaired);
    assert_eq!(repaired["status"], "active", "{repaired}");
    assert!(repaired.get("error_code").is_none() && repaired.get("state").is_none(), "{repaired}");
    assert!(repaired["credential"].as_str().is_some_and(|token| !token.is_empty()));
    assert!(stored_refresh_token(&platform, "c1").await.is_some(), "offline access granted");
    let filter = xkit_dash::client::ConnectionFilter::default();
    let listed = client.list_connections(&filter, None, None).await.unwrap();
    let health: Vec<_> =
        listed.connections.iter().map(|c| (c.id.as_str(), xkit_dash::model::Health::of(Some(c)))).collect();
    assert_eq!(health, [("c1", xkit_dash::model::Health::Active)], "the same connection id, now healthy");

    // The callback and the link are single use.
    let replayed = browser.get(back).send().await.unwrap();
    assert_eq!(replayed.status(), StatusCode::BAD_REQUEST);
    let reused = page_post(&browser, platform.url("/connectors/idp/authorize"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), StatusCode::GONE);
    let (_, still) = platform.get("/connections/c1").await;
    assert_eq!(authorization(&still)["status"], "active", "a replayed callback changes nothing");
}

// ---- the demo on the sandbox provider ------------------------------------------------------

/// The newcomer's story on the demo, offline: an expired demo token refreshes on read through
/// the sandbox; revoking its grant on the sandbox page breaks it (`error`/`invalid_grant`); a
/// repair link, the sandbox's consent page and the callback make it `active` again.
#[tokio::test]
async fn on_the_demo_tokens_refresh_break_and_get_repaired_offline() {
    let platform = TestPlatform::demo().await;
    let demo: Value = serde_json::from_str(xkit_dash::server::seed::DEMO).unwrap();
    let expired = demo["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["authorization"]["expires_at"].as_str().is_some_and(|at| at.starts_with("now-")) && c["enabled"] != false
        })
        .expect("the demo has an expired connection");
    let (id, context, slug) =
        (expired["id"].as_str().unwrap(), expired["context"].as_str().unwrap(), expired["connector"].as_str().unwrap());

    let (_, body) = platform.get(&format!("/connections/{id}")).await;
    let refreshed = authorization(&body);
    assert_eq!(refreshed["status"], "active");
    assert!(refreshed["credential"].as_str().unwrap().starts_with("sbx_at_"), "issued by the sandbox: {refreshed}");
    assert_ne!(refreshed["credential"], expired["authorization"]["access_token"]);

    // The sandbox page lists the grant (just used) and revokes it.
    let (status, grants) = send(platform.http.get(platform.url("/sandbox/grants"))).await;
    assert_eq!(status, StatusCode::OK);
    let grant = grants["grants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| {
            g["subject"] == context && g["client_id"] == format!("northwind-{slug}") && g["last_used_at"].is_string()
        })
        .expect("the refreshed grant");
    let admin = platform.http.get(platform.url("/sandbox")).send().await.unwrap().text().await.unwrap();
    assert!(admin.contains(&format!("sandbox/grants/{}/revoke", grant["id"])), "a Revoke button");
    let revoked =
        page_post(&browser(), platform.url(&format!("/sandbox/grants/{}/revoke", grant["id"]))).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::SEE_OTHER);
    let (_, broken) = platform.post(&format!("/connections/{id}/refresh"), json!({})).await;
    assert_eq!(authorization(&broken)["status"], "error", "{broken}");
    assert_eq!(authorization(&broken)["error_code"], "invalid_grant");
    assert_eq!(authorization(&broken)["error_message"], "the grant has been revoked");

    // Repair through the catalog and the sandbox's consent page.
    let (status, link) = platform.post(&format!("/contexts/{context}/connections/{slug}/repair_link"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let token = query_value(&Url::parse(link["url"].as_str().unwrap()).unwrap(), "token").unwrap();
    let other = if slug == "slack" { "github" } else { "slack" };
    assert_eq!(send_page(&platform, &format!("/connectors/{other}?token={token}")).await.0, StatusCode::FORBIDDEN);
    let browser = browser();
    let started = page_post(&browser, platform.url(&format!("/connectors/{slug}/authorize")))
        .form(&[("token", token.as_str()), ("connection_id", id)])
        .send()
        .await
        .unwrap();
    let consent_url = location(&started).expect("to the sandbox");
    assert!(consent_url.as_str().starts_with(&platform.url("/sandbox/oauth/authorize?")), "{consent_url}");
    let consent = browser.get(consent_url.clone()).send().await.unwrap().text().await.unwrap();
    assert!(consent.contains("Approve") && consent.contains("(sandbox)"), "{consent}");
    let mut form: Vec<(String, String)> = consent_url.query_pairs().into_owned().collect();
    form.extend([("subject".into(), "newcomer".into()), ("decision".into(), "approve".into())]);
    let approved = page_post(&browser, platform.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
    let back = location(&approved).expect("back to the catalog");
    assert!(back.as_str().starts_with(&platform.url("/catalog/oauth/callback?code=sbx_code_")), "{back}");
    assert_eq!(browser.get(back).send().await.unwrap().status(), StatusCode::OK);
    let (_, repaired) = platform.get(&format!("/connections/{id}")).await;
    assert_eq!(authorization(&repaired)["status"], "active", "{repaired}");
    assert!(authorization(&repaired)["credential"].as_str().unwrap().starts_with("sbx_at_"));
}

/// Denying consent comes back as `error` with the provider's `access_denied`, and a context
/// token (JWT) works as a reusable link.
#[tokio::test]
async fn denied_consent_leaves_access_denied() {
    let platform = TestPlatform::demo().await;
    let (_, created) = platform.create_context(json!({"external_id": "new-tenant"})).await;
    let jwt = created["access_token"].as_str().unwrap();
    let page = send_page(&platform, &format!("/connectors/slack?token={jwt}")).await;
    assert_eq!(page.0, StatusCode::OK);
    assert!(page.1.contains("Not installed yet") && page.1.contains("Install"), "{}", page.1);

    let browser = browser();
    let started =
        page_post(&browser, platform.url("/connectors/slack/authorize")).form(&[("token", jwt)]).send().await.unwrap();
    let consent_url = location(&started).unwrap();
    let (_, listed) = platform.get("/contexts/new-tenant/connections").await;
    let new_id = listed["connections"][0]["id"].as_str().expect("Install created a connection").to_owned();
    assert_eq!(listed["connections"][0]["authorization"]["status"], "awaiting_callback");
    let mut form: Vec<(String, String)> = consent_url.query_pairs().into_owned().collect();
    form.push(("decision".into(), "deny".into()));
    let denied = page_post(&browser, platform.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
    let back = location(&denied).unwrap();
    assert_eq!(query_value(&back, "error").as_deref(), Some("access_denied"));
    let outcome = browser.get(back).send().await.unwrap();
    assert_eq!(outcome.status(), StatusCode::BAD_REQUEST);
    assert!(outcome.text().await.unwrap().contains("access_denied"));
    let (_, failed) = platform.get(&format!("/connections/{new_id}")).await;
    assert_eq!(authorization(&failed)["status"], "error");
    assert_eq!(authorization(&failed)["error_code"], "access_denied");
    assert_eq!(authorization(&failed)["error_message"], "The user denied the request.");
    // The context token is still good: the page now offers Reconnect for that connection.
    let page = send_page(&platform, &format!("/connectors/slack?token={jwt}")).await;
    assert!(page.1.contains("Reconnect") && page.1.contains(&new_id), "{}", page.1);
}

async fn send_page(platform: &TestPlatform, path: &str) -> (StatusCode, String) {
    let response = platform.http.get(platform.url(path)).send().await.unwrap();
    let status = response.status();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{path}: {content_type}");
    (status, response.text().await.unwrap())
}

// ---- the sandbox provider's rules ------------------------------------------------------------

const SANDBOX_SEED: &str = r#"{
  "sandbox": {"clients": [{"client_id": "app", "client_secret": "app-secret", "name": "Test app",
                           "redirect_uris": ["http://127.0.0.1:9/cb"], "access_token_ttl": "90s"}]}
}"#;

/// Approves a consent for `app` directly and returns the code.
async fn sandbox_code(platform: &TestPlatform, challenge: Option<&str>) -> String {
    let mut form = vec![
        ("response_type", "code"),
        ("client_id", "app"),
        ("redirect_uri", "http://127.0.0.1:9/cb"),
        ("scope", "read"),
        ("state", "s1"),
        ("subject", "tester"),
        ("decision", "approve"),
    ];
    if let Some(challenge) = challenge {
        form.extend([("code_challenge", challenge), ("code_challenge_method", "S256")]);
    }
    let response = page_post(&browser(), platform.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
    let back = location(&response).expect("a redirect with the code");
    assert_eq!(query_value(&back, "state").as_deref(), Some("s1"));
    query_value(&back, "code").expect("a code")
}

async fn sandbox_token(platform: &TestPlatform, form: &[(&str, &str)]) -> (StatusCode, Value) {
    send(platform.http.post(platform.url("/sandbox/oauth/token")).basic_auth("app", Some("app-secret")).form(form))
        .await
}

fn assert_invalid_grant(answer: &(StatusCode, Value)) {
    assert_eq!(
        (answer.0, answer.1["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{}",
        answer.1
    );
}

/// Codes are single use and PKCE-bound; refresh tokens rotate; a replayed code or a consumed
/// refresh token revokes the grant; RFC 7009 revocation works; clients must authenticate.
#[tokio::test]
async fn the_sandbox_provider_enforces_its_grant_rules() {
    let platform = TestPlatform::empty().await;
    load_seed(&platform, SANDBOX_SEED).await;
    let cb = ("redirect_uri", "http://127.0.0.1:9/cb");

    // The consent page, and the answers to requests that cannot be trusted.
    const AUTHORIZE: &str = "/sandbox/oauth/authorize?client_id=app&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb";
    let consent = send_page(&platform, &format!("{AUTHORIZE}&response_type=code&scope=read&state=s1")).await;
    assert_eq!(consent.0, StatusCode::OK);
    assert!(consent.1.contains("Test app") && consent.1.contains("<code>read</code>"), "{}", consent.1);
    let foreign = send_page(
        &platform,
        "/sandbox/oauth/authorize?response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fevil.example%2Fcb",
    )
    .await;
    assert_eq!(foreign.0, StatusCode::BAD_REQUEST, "never redirects to an unregistered URI");
    assert_eq!(send_page(&platform, "/sandbox/oauth/authorize?client_id=nobody").await.0, StatusCode::BAD_REQUEST);
    let response =
        browser().get(platform.url(&format!("{AUTHORIZE}&response_type=token&state=x"))).send().await.unwrap();
    let refused = location(&response).unwrap();
    assert_eq!(query_value(&refused, "error").as_deref(), Some("unsupported_response_type"));

    // PKCE: the wrong verifier is refused, the right one works once; a replay revokes the grant.
    let verifier = "a-verifier-that-is-long-enough-to-be-a-real-pkce-verifier-0123";
    let challenge = xkit_dash::server::store::pkce_s256(verifier);
    let code = sandbox_code(&platform, Some(&challenge)).await;
    let with_verifier =
        |verifier| [("grant_type", "authorization_code"), ("code", code.as_str()), cb, ("code_verifier", verifier)];
    let wrong = "the-wrong-verifier-the-wrong-verifier-the-wrong-verifier-0123";
    assert_invalid_grant(&sandbox_token(&platform, &with_verifier(wrong)).await);
    let (status, tokens) = sandbox_token(&platform, &with_verifier(verifier)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!((tokens["token_type"].as_str(), tokens["expires_in"].as_i64()), (Some("Bearer"), Some(90)));
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    assert_invalid_grant(&sandbox_token(&platform, &with_verifier(verifier)).await);
    assert_invalid_grant(
        &sandbox_token(&platform, &[("grant_type", "refresh_token"), ("refresh_token", &first_refresh)]).await,
    );

    // Rotation, and reuse of a consumed refresh token.
    let code = sandbox_code(&platform, None).await;
    let (_, tokens) = sandbox_token(&platform, &[("grant_type", "authorization_code"), ("code", &code), cb]).await;
    let one = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, rotated) = sandbox_token(&platform, &[("grant_type", "refresh_token"), ("refresh_token", &one)]).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let two = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(one, two, "refresh tokens rotate");
    assert_invalid_grant(&sandbox_token(&platform, &[("grant_type", "refresh_token"), ("refresh_token", &one)]).await);
    let after_reuse = sandbox_token(&platform, &[("grant_type", "refresh_token"), ("refresh_token", &two)]).await;
    assert_invalid_grant(&after_reuse);
    assert!(after_reuse.1["error_description"].as_str().unwrap().contains("revoked"), "{}", after_reuse.1);

    // RFC 7009 revocation (client_secret_post this time).
    let code = sandbox_code(&platform, None).await;
    let (_, tokens) = sandbox_token(&platform, &[("grant_type", "authorization_code"), ("code", &code), cb]).await;
    let live = tokens["refresh_token"].as_str().unwrap().to_owned();
    let revoke = platform
        .http
        .post(platform.url("/sandbox/oauth/revoke"))
        .form(&[("token", live.as_str()), ("client_id", "app"), ("client_secret", "app-secret")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), StatusCode::OK);
    assert_invalid_grant(&sandbox_token(&platform, &[("grant_type", "refresh_token"), ("refresh_token", &live)]).await);

    // Client authentication and grant types.
    let (status, body) = send(
        platform
            .http
            .post(platform.url("/sandbox/oauth/token"))
            .basic_auth("app", Some("wrong"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", "x")]),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
    let (status, body) = sandbox_token(&platform, &[("grant_type", "password")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_grant_type")));
    let grants = platform.http.get(platform.url("/sandbox/grants")).send().await.unwrap().text().await.unwrap();
    for secret in [&first_refresh, &one, &two, &live, &code] {
        assert!(!grants.contains(secret.as_str()), "the grant list holds no token material");
    }
}

// ---- bad input ---------------------------------------------------------------------------

/// Links and callbacks that do not add up get a clear page (or JSON error) and change nothing.
#[tokio::test]
async fn bad_links_and_callbacks_are_refused() {
    let platform =
        TestPlatform::with(|config| ServerConfig { demo: true, repair_link_ttl: std::time::Duration::ZERO, ..config })
            .await;
    // An expired repair link (this platform mints them already expired).
    let (status, link) = platform.post("/contexts/org_acme/connections/slack/repair_link", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let url = Url::parse(link["url"].as_str().unwrap()).unwrap();
    let path = format!("{}?{}", url.path(), url.query().unwrap());
    let expired = send_page(&platform, &path).await;
    assert_eq!(expired.0, StatusCode::GONE);
    assert!(expired.1.contains("expired"), "{}", expired.1);

    // Unknown connector, unknown context, missing or forged tokens, a link for another connector.
    assert_eq!(send_page(&platform, "/connectors/no-such-connector?token=x").await.0, StatusCode::NOT_FOUND);
    assert_error(
        &platform.post("/contexts/nobody/connections/slack/repair_link", json!({})).await,
        StatusCode::NOT_FOUND,
    );
    assert_error(
        &platform.post("/contexts/org_acme/connections/nope/repair_link", json!({})).await,
        StatusCode::NOT_FOUND,
    );
    // No link and no session: the demo sends the visitor to its login page.
    let anonymous = browser().get(platform.url("/connectors/slack")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&anonymous).unwrap().as_str(), "https://northwind-analytics.example/login");
    assert_eq!(send_page(&platform, "/connectors/slack?token=xkrt_forged").await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        send_page(&platform, "/connectors/slack?token=eyJhbGciOiJIUzI1NiJ9.e30.forged").await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, created) = platform.create_context(json!({"external_id": "escaper"})).await;
    let jwt = created["access_token"].as_str().unwrap();

    // A state nobody issued (this browser holds no flow cookie for it), and a callback without one.
    let (status, _) = send_page(&platform, "/catalog/oauth/callback?state=never-issued&code=abc").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(send_page(&platform, "/catalog/oauth/callback?code=abc").await.0, StatusCode::BAD_REQUEST);

    // Reconnecting a connection of another context is refused, and nothing was changed by it.
    let (_, acme) = platform.get("/contexts/org_acme/connections").await;
    let acme_slack = acme["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector"]["slug"] == "slack")
        .map(|c| c["id"].as_str().unwrap().to_owned());
    if let Some(id) = acme_slack {
        let (_, before) = platform.get(&format!("/connections/{id}")).await;
        let response = page_post(&platform.http, platform.url("/connectors/slack/authorize"))
            .form(&[("token", jwt), ("connection_id", id.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let (_, after) = platform.get(&format!("/connections/{id}")).await;
        assert_eq!(authorization(&before)["status"], authorization(&after)["status"]);
    }

    // Strings from the database are escaped in the pages.
    let (_, created) = platform.create_context(json!({"external_id": "<script>alert(1)</script>"})).await;
    let hostile = created["access_token"].as_str().unwrap();
    let page = send_page(&platform, &format!("/connectors/slack?token={hostile}")).await;
    assert_eq!(page.0, StatusCode::OK);
    assert!(!page.1.contains("<script>") && page.1.contains("&lt;script&gt;"), "{}", page.1);
}
