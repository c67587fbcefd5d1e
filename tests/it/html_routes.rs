//! The catalog's and the sandbox's HTML routes under attack, over real HTTP against the demo
//! platform: flows bound to the browser that started them, exact redirect URIs, cross-site
//! form posts, repair links that survive a refused request, and errors that always keep the
//! shape of their family (a page for browsers, `{"error": ...}` for machines).

use crate::support::oauth::{browser, location, page_post, query_value};
use crate::support::server::{TestPlatform, authorization, send};
use reqwest::header::{CONTENT_TYPE, COOKIE, HOST, LOCATION, ORIGIN, REFERER, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;
use xkit_dash::server::ServerConfig;

/// A form body over the server's 64 KiB limit, the size the audit sent.
const FIVE_MEGABYTES: usize = 5 * 1024 * 1024;

/// A new context on `platform` and its context token (a reusable catalog link token).
async fn context_token(platform: &TestPlatform, external_id: &str) -> String {
    let (status, created) = platform.create_context(json!({ "external_id": external_id })).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    created["access_token"].as_str().unwrap().to_owned()
}

/// The only connection of `external_id`, once the catalog created it.
async fn only_connection(platform: &TestPlatform, external_id: &str) -> Value {
    let (_, listed) = platform.get(&format!("/contexts/{external_id}/connections")).await;
    let connections = listed["connections"].as_array().unwrap();
    assert_eq!(connections.len(), 1, "{listed}");
    let (_, connection) = platform.get(&format!("/connections/{}", connections[0]["id"].as_str().unwrap())).await;
    connection
}

/// Asserts an HTML error page: status, `text/html`, `nosniff`.
async fn assert_page(response: reqwest::Response, status: StatusCode) -> String {
    let url = response.url().clone();
    assert_eq!(response.status(), status, "{url}");
    assert_nosniff(&response);
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{url}: {content_type}");
    let text = response.text().await.unwrap();
    assert!(text.starts_with("<!DOCTYPE html>"), "{url}: {text}");
    text
}

/// Asserts a JSON error: status, `application/json`, `nosniff`, and a non-empty `error`.
async fn assert_json_error(response: reqwest::Response, status: StatusCode) -> Value {
    let url = response.url().clone();
    assert_eq!(response.status(), status, "{url}");
    assert_nosniff(&response);
    let content_type = response.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{url}: {content_type}");
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().is_some_and(|error| !error.is_empty()), "{url}: {body}");
    body
}

fn assert_nosniff(response: &reqwest::Response) {
    assert_eq!(
        response.headers().get("x-content-type-options").map(|value| value.to_str().unwrap()),
        Some("nosniff"),
        "{} {}",
        response.status(),
        response.url()
    );
}

/// The consent form's fields for a request to the sandbox's `northwind-slack` client.
fn consent_form(redirect_uri: &str, decision: &str) -> Vec<(String, String)> {
    [
        ("response_type", "code"),
        ("client_id", "northwind-slack"),
        ("redirect_uri", redirect_uri),
        ("scope", "chat:write"),
        ("state", "s1"),
        ("subject", "tester"),
        ("decision", decision),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value.to_owned()))
    .collect()
}

// ---- item 9: a flow finishes only in the browser that started it ------------------------------

/// A consent completed elsewhere cannot land: the callback refuses a browser without the flow's
/// cookie, and one holding another flow's cookie, with a page, and the connection keeps
/// waiting; the browser that started the flow then completes it.
#[tokio::test]
async fn the_callback_only_completes_in_the_browser_that_started_the_flow() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "tenant-9").await;

    let starter = browser();
    let started = page_post(&starter, platform.url("/connectors/slack/authorize"))
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let cookie = started.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("xkit_flow_"), "{cookie}");
    for attribute in ["; Path=/;", "; Max-Age=900;", "; HttpOnly", "; SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http cannot keep a Secure cookie: {cookie}");
    let consent_url = location(&started).unwrap();
    let mut form: Vec<(String, String)> = consent_url.query_pairs().into_owned().collect();
    form.extend([("subject".into(), "victim".into()), ("decision".into(), "approve".into())]);
    let approved = page_post(&starter, platform.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
    let back = location(&approved).expect("back to the catalog with a code");
    assert!(query_value(&back, "code").is_some(), "{back}");
    // The same browser starts another flow in another tab; each flow keeps its own cookie.
    let second_token = context_token(&platform, "tenant-9-second").await;
    let second = page_post(&starter, platform.url("/connectors/slack/authorize"))
        .form(&[("token", &second_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), StatusCode::SEE_OTHER);

    // A second browser, with no cookies at all.
    let stranger = browser();
    let refused = assert_page(stranger.get(back.clone()).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    assert!(refused.contains("not started in this browser"), "{refused}");
    let waiting = only_connection(&platform, "tenant-9").await;
    assert_eq!(authorization(&waiting)["status"], "awaiting_callback", "{waiting}");

    // A browser holding the cookie of a flow of its own.
    let other = browser();
    let other_token = context_token(&platform, "tenant-9-other").await;
    let own_flow = page_post(&other, platform.url("/connectors/slack/authorize"))
        .form(&[("token", &other_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(own_flow.status(), StatusCode::SEE_OTHER);
    assert_page(other.get(back.clone()).send().await.unwrap(), StatusCode::FORBIDDEN).await;
    let waiting = only_connection(&platform, "tenant-9").await;
    assert_eq!(authorization(&waiting)["status"], "awaiting_callback", "{waiting}");

    // The browser that started it finishes it.
    let done = starter.get(back).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("Connected"));
    let connected = only_connection(&platform, "tenant-9").await;
    assert_eq!(authorization(&connected)["status"], "active", "{connected}");
}

/// Behind an https public URL the cookie is `__Host-` prefixed and `Secure`, and only that
/// name binds: a same-valued cookie under the bare name (which a plain-http page or a sibling
/// host could set) does not.
#[tokio::test]
async fn behind_https_the_flow_cookie_is_a_secure_host_cookie() {
    let public = Url::parse("https://platform.example/").unwrap();
    let platform =
        TestPlatform::with(|config| ServerConfig { demo: true, public_url: Some(public.clone()), ..config }).await;
    let token = context_token(&platform, "tenant-https").await;
    let client = browser();
    let started = client
        .post(platform.url("/connectors/slack/authorize"))
        .header(ORIGIN, "https://platform.example")
        .form(&[("token", &token)])
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER);
    let cookie = started.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("__Host-xkit_flow_"), "{cookie}");
    assert!(cookie.contains("; Path=/;") && cookie.ends_with("; Secure"), "{cookie}");
    let (name, rest) = cookie.split_once('=').unwrap();
    let secret = rest.split(';').next().unwrap();
    let bare_name = name.strip_prefix("__Host-").unwrap();
    let to_sandbox = Url::parse(started.headers()[LOCATION].to_str().unwrap()).unwrap();
    assert!(to_sandbox.as_str().starts_with("https://platform.example/sandbox/oauth/authorize?"), "{to_sandbox}");
    let state = query_value(&to_sandbox, "state").unwrap();
    let callback = platform.url(&format!("/catalog/oauth/callback?state={state}&error=access_denied"));

    let bare = client.get(&callback).header(COOKIE, format!("{bare_name}={secret}")).send().await.unwrap();
    assert_page(bare, StatusCode::FORBIDDEN).await;
    let waiting = only_connection(&platform, "tenant-https").await;
    assert_eq!(authorization(&waiting)["status"], "awaiting_callback", "{waiting}");

    let bound = client.get(&callback).header(COOKIE, format!("{name}={secret}")).send().await.unwrap();
    let outcome = assert_page(bound, StatusCode::BAD_REQUEST).await;
    assert!(outcome.contains("access_denied"), "{outcome}");
    let denied = only_connection(&platform, "tenant-https").await;
    assert_eq!(authorization(&denied)["error_code"], "access_denied", "{denied}");
}

// ---- item 10: codes go only to a registered redirect URI, exactly ------------------------------

/// The demo's clients register `/catalog/oauth/callback` (this server's public URL). Other
/// schemes, the https variant, an added query, and a `Host` header naming another site with a
/// matching `redirect_uri` get an error page and no redirect, on the consent page and on
/// Approve; the registered URI itself still gets its code.
#[tokio::test]
async fn the_sandbox_sends_codes_only_to_the_registered_redirect_uri() {
    let platform = TestPlatform::demo().await;
    let callback = platform.url("/catalog/oauth/callback");
    let authority = platform.server.addr.to_string();
    let client = browser();
    let foreign = [
        (format!("myapp://{authority}/catalog/oauth/callback"), None),
        (format!("javascript://{authority}/catalog/oauth/callback"), None),
        (format!("ftp://{authority}/catalog/oauth/callback"), None),
        (callback.replacen("http://", "https://", 1), None),
        (format!("{callback}?next=elsewhere"), None),
        ("http://evil.example/catalog/oauth/callback".to_owned(), Some("evil.example")),
    ];
    for (redirect_uri, host) in foreign {
        let mut consent = Url::parse(&platform.url("/sandbox/oauth/authorize")).unwrap();
        consent
            .query_pairs_mut()
            .extend_pairs([("response_type", "code"), ("client_id", "northwind-slack"), ("state", "s1")])
            .append_pair("redirect_uri", &redirect_uri);
        let mut page = client.get(consent);
        let mut approve =
            page_post(&client, platform.url("/sandbox/oauth/authorize")).form(&consent_form(&redirect_uri, "approve"));
        if let Some(host) = host {
            page = page.header(HOST, host);
            approve = approve.header(HOST, host);
        }
        for response in [page.send().await.unwrap(), approve.send().await.unwrap()] {
            assert!(response.headers().get(LOCATION).is_none(), "{redirect_uri}: redirected");
            let text = assert_page(response, StatusCode::BAD_REQUEST).await;
            assert!(text.contains("Invalid redirect URI"), "{redirect_uri}: {text}");
        }
    }

    let approved = page_post(&client, platform.url("/sandbox/oauth/authorize"))
        .form(&consent_form(&callback, "approve"))
        .send()
        .await
        .unwrap();
    let back = location(&approved).expect("the registered URI gets the code");
    assert!(back.as_str().starts_with(&format!("{callback}?code=sbx_code_")), "{back}");
}

// ---- item 11: cross-site form posts are refused ----------------------------------------------

/// Every state-changing HTML route (catalog Install/Reconnect, sandbox consent, sandbox grant
/// revocation) refuses a post from another site, a `null` origin, a foreign Referer, and one
/// naming no origin at all, with a 403 page that changes nothing; the same posts from the
/// server's own pages go through.
#[tokio::test]
async fn cross_site_form_posts_are_refused_on_every_html_route() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "tenant-11").await;
    let (_, grants) = send(platform.http.get(platform.url("/sandbox/grants"))).await;
    let grant = grants["grants"].as_array().unwrap().iter().find(|grant| grant["revoked_at"].is_null()).unwrap();
    let revoke = platform.url(&format!("/sandbox/grants/{}/revoke", grant["id"]));
    let callback = platform.url("/catalog/oauth/callback");
    let posts = |client: &reqwest::Client| {
        [
            client.post(platform.url("/connectors/slack/authorize")).form(&[("token", &token)]),
            client.post(platform.url("/sandbox/oauth/authorize")).form(&consent_form(&callback, "approve")),
            client.post(&revoke),
        ]
    };
    let own_port = platform.server.addr.port();
    let hostile: [&[(reqwest::header::HeaderName, String)]; 5] = [
        &[(ORIGIN, "https://evil.example".into())],
        &[(ORIGIN, format!("http://evil.example:{own_port}"))],
        &[(ORIGIN, "null".into())],
        &[(REFERER, "https://evil.example/page".into())],
        &[],
    ];
    let client = browser();
    for headers in hostile {
        for mut post in posts(&client) {
            for (name, value) in headers {
                post = post.header(name, value);
            }
            let response = post.send().await.unwrap();
            assert!(response.headers().get(LOCATION).is_none() && response.headers().get(SET_COOKIE).is_none());
            let text = assert_page(response, StatusCode::FORBIDDEN).await;
            assert!(text.contains("Request refused"), "{headers:?}: {text}");
        }
    }
    let (_, listed) = platform.get("/contexts/tenant-11/connections").await;
    assert_eq!(listed["connections"], json!([]), "no connection was started");
    let (_, after) = send(platform.http.get(platform.url("/sandbox/grants"))).await;
    let same = after["grants"].as_array().unwrap().iter().find(|g| g["id"] == grant["id"]).unwrap();
    assert!(same["revoked_at"].is_null(), "the grant is still live: {same}");

    // From the server's own pages (Origin, or only a Referer), each goes through.
    let own = platform.server.base_url();
    for (index, post) in posts(&client).into_iter().enumerate() {
        let post = match index {
            1 => post.header(REFERER, format!("{own}/sandbox/oauth/authorize?client_id=northwind-slack")),
            _ => post.header(ORIGIN, &own),
        };
        assert_eq!(post.send().await.unwrap().status(), StatusCode::SEE_OTHER, "post {index}");
    }
}

// ---- item 12: a refused Reconnect does not spend the repair link -------------------------------

/// Reconnecting another context's connection with a repair link is refused (404) and leaves
/// both that connection and the single-use link as they were: the link still opens its page
/// and starts its own flow, once.
#[tokio::test]
async fn a_refused_reconnect_leaves_the_repair_link_unspent() {
    let platform = TestPlatform::demo().await;
    context_token(&platform, "tenant-12").await;
    let (_, slack) = platform.get("/connections?connector=slack&limit=1").await;
    let foreign_id = slack["connections"][0]["id"].as_str().expect("a demo Slack connection").to_owned();
    let (_, before) = platform.get(&format!("/connections/{foreign_id}")).await;
    let (status, link) = platform.post("/contexts/tenant-12/connections/slack/repair_link", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{link}");
    let link = Url::parse(link["url"].as_str().unwrap()).unwrap();
    let token = query_value(&link, "token").unwrap();
    let client = browser();
    let authorize = platform.url("/connectors/slack/authorize");

    let refused = page_post(&client, &authorize)
        .form(&[("token", token.as_str()), ("connection_id", foreign_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_page(refused, StatusCode::NOT_FOUND).await;
    let (_, after) = platform.get(&format!("/connections/{foreign_id}")).await;
    assert_eq!(authorization(&before), authorization(&after), "the other context's connection is untouched");

    assert_eq!(client.get(link).send().await.unwrap().status(), StatusCode::OK, "the link still opens its page");
    let started = page_post(&client, &authorize).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::SEE_OTHER, "the link still starts its flow");
    let again = page_post(&client, &authorize).form(&[("token", token.as_str())]).send().await.unwrap();
    assert_page(again, StatusCode::GONE).await;
}

// ---- item 15: every error keeps its family's shape ---------------------------------------------

/// axum's own rejections, the 404 and 405 fallbacks and our refusals answer browsers with a
/// page and machines with `{"error": ...}`, and every response says `nosniff`.
#[tokio::test]
async fn html_routes_answer_errors_with_pages_and_api_routes_with_json() {
    let platform = TestPlatform::demo().await;
    let client = browser();
    let own = platform.server.base_url();
    let huge_form = format!("decision=approve&subject={}", "x".repeat(FIVE_MEGABYTES));
    let get = |path: &str| client.get(platform.url(path));
    let post = |path: &str| client.post(platform.url(path)).header(ORIGIN, &own);
    let form_type = "application/x-www-form-urlencoded";
    let pages = [
        (get("/connectors/slack?token=a&token=b"), StatusCode::BAD_REQUEST),
        (get("/catalog/oauth/callback?state=a&state=b"), StatusCode::BAD_REQUEST),
        (get("/sandbox/oauth/authorize?client_id=a&client_id=b"), StatusCode::BAD_REQUEST),
        (
            post("/connectors/slack/authorize").header(CONTENT_TYPE, "text/plain").body("token=x"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            post("/sandbox/oauth/authorize").header(CONTENT_TYPE, form_type).body(huge_form),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (post("/sandbox/oauth/authorize").form(&[("client_id", "northwind-slack")]), StatusCode::UNPROCESSABLE_ENTITY),
        (
            post("/sandbox/oauth/authorize").body("decision=approve&decision=deny").header(CONTENT_TYPE, form_type),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (post("/sandbox/grants/not-a-number/revoke"), StatusCode::BAD_REQUEST),
        (post("/sandbox/grants/999999/revoke"), StatusCode::NOT_FOUND),
        (get("/connectors/slack?token=xkrt_forged"), StatusCode::UNAUTHORIZED),
        (get("/connectors/slack/elsewhere"), StatusCode::NOT_FOUND),
        (get("/sandbox/elsewhere"), StatusCode::NOT_FOUND),
        (get("/connectors/slack/authorize"), StatusCode::METHOD_NOT_ALLOWED),
        (client.request(Method::PUT, platform.url("/sandbox")).header(ORIGIN, &own), StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (request, status) in pages {
        assert_page(request.send().await.unwrap(), status).await;
    }

    let api = [
        (platform.request(Method::GET, "/no-such-route"), StatusCode::NOT_FOUND),
        (get("/elsewhere"), StatusCode::NOT_FOUND),
        (
            platform.request(Method::POST, "/context").header(CONTENT_TYPE, "text/plain").body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (get("/sandbox/oauth/token"), StatusCode::METHOD_NOT_ALLOWED),
        (client.delete(platform.url("/sandbox/grants")), StatusCode::METHOD_NOT_ALLOWED),
    ];
    for (request, status) in api {
        assert_json_error(request.send().await.unwrap(), status).await;
    }

    // Answers that are not errors say `nosniff` too: a page, JSON, a redirect.
    let (_, created) = platform.create_context(json!({"external_id": "tenant-15"})).await;
    let page = get(&format!("/connectors/slack?token={}", created["access_token"].as_str().unwrap()));
    let started = post("/connectors/slack/authorize").form(&[("token", created["access_token"].as_str().unwrap())]);
    for (request, status) in
        [(page, StatusCode::OK), (get("/sandbox/grants"), StatusCode::OK), (started, StatusCode::SEE_OTHER)]
    {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{}", response.url());
        assert_nosniff(&response);
    }
}

// ---- item 17c: the token endpoint's unreadable forms -------------------------------------------

/// The sandbox's token and revocation endpoints answer a form they cannot read in RFC 6749's
/// JSON shape with what is actually wrong: too large (413), not a form (415), a parameter twice.
#[tokio::test]
async fn the_sandbox_token_endpoint_names_what_is_wrong_with_a_form() {
    let platform = TestPlatform::demo().await;
    let huge = format!("grant_type=refresh_token&refresh_token={}", "x".repeat(FIVE_MEGABYTES));
    let form_type = "application/x-www-form-urlencoded";
    let endpoint =
        |path: &str| platform.http.post(platform.url(path)).basic_auth("northwind-slack", Some("sandbox-secret-slack"));
    let cases = [
        (
            endpoint("/sandbox/oauth/token").header(CONTENT_TYPE, form_type).body(huge.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            endpoint("/sandbox/oauth/revoke").header(CONTENT_TYPE, form_type).body(huge),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too large",
        ),
        (
            endpoint("/sandbox/oauth/token").header(CONTENT_TYPE, "application/json").body("{}"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "application/x-www-form-urlencoded",
        ),
        (
            endpoint("/sandbox/oauth/token")
                .header(CONTENT_TYPE, form_type)
                .body("grant_type=refresh_token&grant_type=password"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "duplicate field",
        ),
    ];
    for (request, status, says) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = assert_json_error(response, status).await;
        assert_eq!(body["error"], "invalid_request", "{body}");
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(says), "{says:?} in {description:?}");
    }
}
