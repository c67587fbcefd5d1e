//! What a browser page needs from the server, over HTTP without a browser: HTTPS
//! (`--tls-cert/--tls-key`, `--tls-self-signed`), the web origins and their CORS answers, the
//! cookie session of xkit.js (`POST/DELETE /sessions`, `POST /sessions/token`) and the catalog
//! page reached with that session instead of a token in the link.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, AUTHORIZATION, COOKIE, LOCATION, ORIGIN, SET_COOKIE, VARY,
};
use serde_json::{Value, json};
use xkit_dash::server::{ConnectionLimits, ServerConfig, TlsSource};

use crate::support::jwt_claims;
use crate::support::oauth::page_post;
use crate::support::server::{ServedPlatform, TestPlatform};

const PAGE_ORIGIN: &str = "https://app.example.com";

/// A platform over TLS, its client trusting the server's certificate.
async fn tls_platform(configure: impl FnOnce(ServerConfig) -> ServerConfig) -> TestPlatform {
    let mut platform =
        TestPlatform::with(|config| configure(ServerConfig { tls: Some(TlsSource::SelfSigned), ..config })).await;
    platform.http = trusting_client(&platform);
    platform
}

fn trusting_client(platform: &TestPlatform) -> reqwest::Client {
    let certificate = platform.server.tls_certificate.as_ref().expect("served over TLS");
    let pem = std::fs::read(certificate).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn context_token(platform: &TestPlatform, external_id: &str) -> String {
    let (status, body) = platform.create_context(json!({"external_id": external_id})).await;
    assert!(status.is_success(), "{status}: {body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// `POST /sessions` with a Bearer token: its `Set-Cookie`.
async fn log_in(platform: &TestPlatform, token: &str) -> String {
    let response = platform
        .http
        .post(platform.url("/api/platform_user/sessions"))
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.headers()[SET_COOKIE].to_str().unwrap().to_owned()
}

/// `name=value` of a `Set-Cookie`, to send back in `Cookie`.
fn cookie_pair(set_cookie: &str) -> &str {
    set_cookie.split(';').next().unwrap()
}

fn header(response: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<&str> {
    response.headers().get(name).map(|value| value.to_str().unwrap())
}

#[tokio::test]
async fn https_with_certificate_files_and_plain_http_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let (certificate, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&certificate, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    let source = TlsSource::Files { certificate: certificate.clone(), key };
    let platform = tls_platform(|config| ServerConfig { tls: Some(source), ..config }).await;
    assert_eq!(platform.server.tls_certificate.as_ref(), Some(&certificate));
    assert!(platform.server.base_url().starts_with("https://127.0.0.1:"));
    let (status, body) = platform.create_context(json!({"external_id": "u1"})).await;
    assert!(status.is_success(), "{status}: {body}");
    let plain = format!("http://{}/api/platform_user/platform", platform.server.addr);
    assert!(reqwest::get(plain).await.is_err(), "no plain HTTP on a TLS listener");
    platform.server.shutdown().await;
}

/// A connection that never finishes its TLS handshake is closed after the header timeout, and
/// does not hold up others meanwhile.
#[tokio::test]
async fn a_stalled_tls_handshake_is_closed_after_the_header_timeout() {
    use tokio::io::AsyncReadExt as _;
    let limits = ConnectionLimits { header_timeout: Duration::from_millis(400), ..ConnectionLimits::default() };
    let platform = tls_platform(|config| ServerConfig { limits, ..config }).await;
    let mut stalled = tokio::net::TcpStream::connect(platform.server.addr).await.unwrap();
    let started = Instant::now();
    let response = platform.http.get(platform.url("/api/platform_user/platform")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "served while another connection stalls");
    let mut sink = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), stalled.read(&mut sink)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed, not kept open: {read:?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "not before the timeout: {:?}", started.elapsed());
    platform.server.shutdown().await;
}

#[tokio::test]
async fn an_allowed_origin_gets_cors_on_preflights_and_on_every_answer_errors_included() {
    let seed = json!({"origins": [format!("{PAGE_ORIGIN}/")]}).to_string();
    let platform = TestPlatform::seeded(&seed).await;
    let preflight = platform
        .http
        .request(reqwest::Method::OPTIONS, platform.url("/api/platform_user/connections/slack"))
        .header(ORIGIN, PAGE_ORIGIN)
        .header("access-control-request-method", "DELETE")
        .header("access-control-request-headers", "authorization,xkit-js-version")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&preflight, ACCESS_CONTROL_ALLOW_ORIGIN), Some(PAGE_ORIGIN));
    assert_eq!(header(&preflight, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"));
    let methods = header(&preflight, ACCESS_CONTROL_ALLOW_METHODS).unwrap();
    assert!(["GET", "POST", "PUT", "DELETE"].iter().all(|method| methods.contains(method)), "{methods}");
    let headers = header(&preflight, ACCESS_CONTROL_ALLOW_HEADERS).unwrap();
    assert!(["authorization", "content-type", "xkit-js-version"].iter().all(|name| headers.contains(name)));
    assert_eq!(header(&preflight, VARY), Some("Origin"));

    // A refused token and an unknown route: the page must still read the status.
    for path in ["/api/platform_user/session", "/api/platform_user/no-such-route"] {
        let response = platform.http.get(platform.url(path)).header(ORIGIN, PAGE_ORIGIN).send().await.unwrap();
        assert!(response.status().is_client_error(), "{path}");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), Some(PAGE_ORIGIN), "{path}");
        assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_CREDENTIALS), Some("true"), "{path}");
    }
    // Nothing for the Platform API (server to server) nor for requests without an Origin.
    let response =
        platform.http.get(platform.url("/api/platform/connectors")).header(ORIGIN, PAGE_ORIGIN).send().await.unwrap();
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    let response = platform.http.get(platform.url("/api/platform_user/platform")).send().await.unwrap();
    assert_eq!(header(&response, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    platform.server.shutdown().await;
}

#[tokio::test]
async fn an_origin_not_in_the_list_gets_no_cors_and_its_requests_do_not_run() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "org_acme").await;
    let preflight = platform
        .http
        .request(reqwest::Method::OPTIONS, platform.url("/api/platform_user/platform"))
        .header(ORIGIN, PAGE_ORIGIN)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(!preflight.status().is_success());
    assert_eq!(header(&preflight, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    // A cross-site request that needs no preflight (a form) must not act as the user either.
    let login = platform
        .http
        .post(platform.url("/api/platform_user/sessions"))
        .header(ORIGIN, PAGE_ORIGIN)
        .header(AUTHORIZATION, format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(&login, ACCESS_CONTROL_ALLOW_ORIGIN), None);
    assert_eq!(header(&login, SET_COOKIE), None, "the login did not run");
    platform.server.shutdown().await;
}

/// The real binary on both sides, as an operator runs them. (An in-process server is not used
/// here: a second store opened in the test's own process, as `create_key_pair` does, makes
/// SQLite miss other processes' later writes, which no deployment does.)
#[tokio::test]
async fn origins_are_added_listed_and_removed_and_a_running_server_follows_at_once() {
    let platform = ServedPlatform::new().await;
    let server = platform.serve(&[]);
    let origins = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("xkit-dash")
            .unwrap()
            .arg("origins")
            .args(args)
            .args(platform.platform_args())
            .output()
            .unwrap()
    };
    let http = reqwest::Client::new();
    let allowed = async |origin: &str| {
        let url = format!("{}/api/platform_user/platform", server.base_url);
        let response = http.get(url).header(ORIGIN, origin).send().await.unwrap();
        header(&response, ACCESS_CONTROL_ALLOW_ORIGIN) == Some(origin)
    };
    assert!(!allowed(PAGE_ORIGIN).await);
    let added = origins(&["add", "HTTPS://App.Example.com/"]);
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    assert_eq!(String::from_utf8_lossy(&added.stdout), format!("added {PAGE_ORIGIN}\n"));
    assert!(allowed(PAGE_ORIGIN).await, "no restart needed");
    let refused = origins(&["add", "https://app.example.com/some/page"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("scheme, host and port only"));
    assert_eq!(String::from_utf8_lossy(&origins(&["list"]).stdout), format!("{PAGE_ORIGIN}\n"));
    assert!(origins(&["remove", PAGE_ORIGIN]).status.success());
    assert!(!allowed(PAGE_ORIGIN).await);
    assert!(!origins(&["remove", PAGE_ORIGIN]).status.success(), "removing an absent origin fails");
}

#[tokio::test]
async fn a_login_sets_a_secure_cookie_session_that_gives_tokens_until_logout() {
    let platform = tls_platform(|config| ServerConfig { demo: true, ..config }).await;
    let token = context_token(&platform, "org_acme").await;
    let set_cookie = log_in(&platform, &token).await;
    for attribute in ["HttpOnly", "Secure", "SameSite=None", "Path=/"] {
        assert!(set_cookie.split("; ").any(|part| part == attribute), "{attribute} in {set_cookie}");
    }
    let cookie = cookie_pair(&set_cookie).to_owned();
    let session_token = platform.url("/api/platform_user/sessions/token");

    let without = platform.http.post(&session_token).send().await.unwrap();
    assert_eq!(without.status(), StatusCode::UNAUTHORIZED);
    assert!(without.json::<Value>().await.unwrap()["error"].is_string());
    // The Bearer header is not a session: the cookie alone is.
    let bearer_only =
        platform.http.post(&session_token).header(AUTHORIZATION, format!("Bearer {token}")).send().await.unwrap();
    assert_eq!(bearer_only.status(), StatusCode::UNAUTHORIZED);

    let issued = platform.http.post(&session_token).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(issued.status(), StatusCode::OK);
    let access_token = issued.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_claims(&access_token)["external_id"], "org_acme");
    // The issued token is a context token; the cookie works where a context token does.
    for credential in [("authorization", format!("Bearer {access_token}")), ("cookie", cookie.clone())] {
        let response =
            platform.http.get(platform.url("/api/platform_user/session")).header(credential.0, &credential.1).send();
        let session: Value = response.await.unwrap().json().await.unwrap();
        assert_eq!(session["context"]["external_id"], "org_acme", "{}", credential.0);
    }

    let logout = platform.http.delete(platform.url("/api/platform_user/sessions")).header(COOKIE, &cookie).send();
    let logout = logout.await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared = header(&logout, SET_COOKIE).unwrap();
    assert!(cleared.starts_with("xkit_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let again = platform.http.delete(platform.url("/api/platform_user/sessions")).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::NO_CONTENT, "logging out without a session is fine");
    platform.server.shutdown().await;
}

#[tokio::test]
async fn over_plain_http_the_session_cookie_is_lax_and_not_secure() {
    let platform = TestPlatform::demo().await;
    let token = context_token(&platform, "org_acme").await;
    let set_cookie = log_in(&platform, &token).await;
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "{set_cookie}");
    platform.server.shutdown().await;
}

#[tokio::test]
async fn the_catalog_page_knows_the_session_and_sends_a_visitor_without_one_to_log_in() {
    let platform = tls_platform(|config| ServerConfig { demo: true, ..config }).await;
    let token = context_token(&platform, "org_acme").await;
    let cookie = cookie_pair(&log_in(&platform, &token).await).to_owned();
    let page_url = platform.url("/connectors/slack");

    let page = platform.http.get(&page_url).header(COOKIE, &cookie).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("org_acme"), "the session's context is shown");
    assert!(!html.contains(&token), "the session's token stays in its cookie");
    // Install from that page: the form carries no token, the cookie speaks for the user.
    let install = page_post(&platform.http, platform.url("/connectors/slack/authorize")).header(COOKIE, &cookie);
    let install = install.form(&[("token", "")]).send().await.unwrap();
    assert_eq!(install.status(), StatusCode::SEE_OTHER);
    assert!(header(&install, LOCATION).unwrap().contains("/sandbox/oauth/authorize"));

    let platform_record: Value =
        platform.http.get(platform.url("/api/platform_user/platform")).send().await.unwrap().json().await.unwrap();
    let login_redirect_url = platform_record["platform"]["login_redirect_url"].as_str().unwrap();
    let anonymous = platform.http.get(&page_url).send().await.unwrap();
    assert!(anonymous.status().is_redirection());
    assert_eq!(header(&anonymous, LOCATION), Some(login_redirect_url));
    platform.server.shutdown().await;
}

#[tokio::test]
async fn without_a_login_page_a_visitor_without_session_gets_the_link_needed_page() {
    let seed = json!({"platform": {"name": "No login", "slug": "nologin"},
                      "connectors": [{"slug": "crm", "name": "CRM"}]})
    .to_string();
    let platform = TestPlatform::seeded(&seed).await;
    let response = platform.http.get(platform.url("/connectors/crm")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.text().await.unwrap().contains("Link needed"));
    platform.server.shutdown().await;
}
