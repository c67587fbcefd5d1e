//! A real, independent OAuth2 server for the token-lifecycle tests: `oidc-provider` (npm) run
//! by `tests/oauth_provider/provider.mjs` on 127.0.0.1, installed with `npm ci` on first use.
//! Also a browser stand-in (cookie jar, no automatic redirects) that signs in and consents on
//! its development pages, and helpers to load seeds into a running platform's database.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::AsyncBufReadExt as _;
use url::Url;

use super::server::TestPlatform;

/// `npm ci` on a cold cache downloads a few megabytes; more than this means something is wrong.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(300);
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirect hops of one sign-in and consent (about six in practice).
const MAX_HOPS: usize = 16;

pub const CLIENT_ID: &str = "xkit-dash-tests";
pub const CLIENT_SECRET: &str = "xkit-dash-tests-secret";
/// A redirect URI nobody listens on: tests read the code from the redirect itself.
pub const DIRECT_REDIRECT: &str = "http://127.0.0.1:9/direct-callback";

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oauth_provider")
}

/// Installs the provider's npm packages once per process.
fn ensure_installed() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = INSTALLED.get_or_init(|| npm_ci(&provider_dir(), "oidc-provider"));
    if let Err(error) = result {
        panic!("cannot install the test OAuth2 provider: {error}");
    }
}

/// `npm ci` in `dir` unless its `node_modules` already holds `marker` (a package). Installs run
/// in a private staging directory and are moved into place with one rename, so concurrent test
/// processes never see a half-written `node_modules`.
pub fn npm_ci(dir: &Path, marker: &str) -> Result<(), String> {
    let installed = || dir.join("node_modules").join(marker).join("package.json").exists();
    if installed() {
        return Ok(());
    }
    let staging = dir.join(format!(".install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(|error| error.to_string())?;
    for file in ["package.json", "package-lock.json"] {
        std::fs::copy(dir.join(file), staging.join(file)).map_err(|error| error.to_string())?;
    }
    let mut npm = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(&staging)
        .stdout(Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot run npm (Node 20+ and npm are needed): {error}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = npm.try_wait().map_err(|error| error.to_string())? {
            break status;
        }
        if started.elapsed() > INSTALL_TIMEOUT {
            let _ = npm.kill();
            let _ = npm.wait();
            return Err(format!("npm ci did not finish within {INSTALL_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        return Err(format!("npm ci failed: {status}"));
    }
    // Another process may have won the race; its install is as good as ours.
    if std::fs::rename(staging.join("node_modules"), dir.join("node_modules")).is_err() && !installed() {
        return Err(format!("cannot move node_modules into {}", dir.display()));
    }
    let _ = std::fs::remove_dir_all(&staging);
    Ok(())
}

/// A running oidc-provider; killed when dropped.
pub struct OidcProvider {
    child: tokio::process::Child,
    pub issuer: String,
    pub authorize_url: String,
    pub token_url: String,
    pub revocation_url: String,
    http: reqwest::Client,
    _log_dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Starts the provider with the test client, allowing `redirect_uris` (plus
    /// [`DIRECT_REDIRECT`]) and issuing access tokens that live `access_ttl` seconds.
    pub async fn start(redirect_uris: &[&str], access_ttl: u64) -> Self {
        tokio::task::spawn_blocking(ensure_installed).await.expect("install task");
        let log_dir = tempfile::tempdir().unwrap();
        let log = log_dir.path().join("provider.log");
        let mut command = tokio::process::Command::new("node");
        command
            .arg("provider.mjs")
            .args(["--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET])
            .args(["--access-ttl", &access_ttl.to_string()])
            .current_dir(provider_dir())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true);
        for uri in redirect_uris.iter().chain([&DIRECT_REDIRECT]) {
            command.args(["--redirect-uri", uri]);
        }
        let mut child = command.spawn().expect("node runs (Node 20+ is needed)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("the provider did not start; log: {:?}", std::fs::read_to_string(&log)))
            .unwrap()
            .unwrap_or_else(|| panic!("the provider exited; log: {:?}", std::fs::read_to_string(&log)));
        // Keep reading: a closed pipe would kill the provider (EPIPE) when it next writes.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let started: Value = serde_json::from_str(&line).unwrap();
        let field = |name: &str| started[name].as_str().unwrap().to_owned();
        Self {
            child,
            issuer: field("issuer"),
            authorize_url: field("authorize_url"),
            token_url: field("token_url"),
            revocation_url: field("revocation_url"),
            http: reqwest::Client::new(),
            _log_dir: log_dir,
        }
    }

    /// `POST /token` requests the provider has received.
    pub async fn token_requests(&self) -> u64 {
        let stats: Value =
            self.http.get(format!("{}/__stats", self.issuer)).send().await.unwrap().json().await.unwrap();
        stats["token_requests"].as_u64().unwrap()
    }

    /// Takes the provider down (its port then refuses connections).
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    /// A fresh grant for user `login`, the way an app gets one: authorize, sign in, consent,
    /// exchange the code. Returns the token response.
    pub async fn grant(&self, login: &str) -> Value {
        let mut authorize = Url::parse(&self.authorize_url).unwrap();
        authorize
            .query_pairs_mut()
            .append_pair("client_id", CLIENT_ID)
            .append_pair("response_type", "code")
            .append_pair("scope", "openid offline_access")
            .append_pair("prompt", "consent")
            .append_pair("redirect_uri", DIRECT_REDIRECT)
            .append_pair("state", "direct");
        let callback = sign_in_and_consent(&browser(), authorize.as_str(), DIRECT_REDIRECT, login).await;
        let code = query_value(&callback, "code").expect("a code in the callback");
        let (status, body) = self
            .token_request(&[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", DIRECT_REDIRECT)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body["refresh_token"].is_string(), "offline_access gives a refresh token: {body}");
        body
    }

    /// A token-endpoint request with the test client's Basic authentication.
    pub async fn token_request(&self, form: &[(&str, &str)]) -> (StatusCode, Value) {
        let response =
            self.http.post(&self.token_url).basic_auth(CLIENT_ID, Some(CLIENT_SECRET)).form(form).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// RFC 7009 revocation of a refresh token (its grant goes with it).
    pub async fn revoke(&self, refresh_token: &str) {
        let response = self
            .http
            .post(&self.revocation_url)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", refresh_token), ("token_type_hint", "refresh_token")])
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "revocation answered {}", response.status());
    }
}

/// A browser stand-in: keeps cookies, does not follow redirects (tests follow them one by one).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A form post as a browser sends it from a page of the site it posts to: with that site's
/// `Origin` (every current browser sends one with a POST; the server refuses posts without).
pub fn page_post(browser: &reqwest::Client, url: impl AsRef<str>) -> reqwest::RequestBuilder {
    let url = Url::parse(url.as_ref()).unwrap();
    browser.post(url.clone()).header(reqwest::header::ORIGIN, url.origin().ascii_serialization())
}

/// The `Location` of a redirect (a 3xx), resolved against the request URL.
pub fn location(response: &reqwest::Response) -> Option<Url> {
    if !response.status().is_redirection() {
        return None;
    }
    let location = response.headers().get(reqwest::header::LOCATION)?.to_str().ok()?;
    response.url().join(location).ok()
}

pub fn query_value(url: &Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
}

/// Follows oidc-provider's redirects from an authorization request, signs in as `login` and
/// consents on its development pages, and returns the redirect to `redirect_prefix`.
pub async fn sign_in_and_consent(browser: &reqwest::Client, start: &str, redirect_prefix: &str, login: &str) -> Url {
    let mut next = Url::parse(start).unwrap();
    let mut interactions = 0;
    for _ in 0..MAX_HOPS {
        let response = browser.get(next.clone()).send().await.unwrap();
        let Some(target) = location(&response) else {
            panic!("{next} answered {} without a redirect: {}", response.status(), response.text().await.unwrap());
        };
        if target.as_str().starts_with(redirect_prefix) {
            return target;
        }
        if target.path().starts_with("/interaction/") {
            // The first interaction is the login prompt, the next one the consent prompt.
            let form: &[(&str, &str)] = if interactions == 0 {
                &[("prompt", "login"), ("login", login), ("password", "x")]
            } else {
                &[("prompt", "consent")]
            };
            interactions += 1;
            let response = browser.post(target.clone()).form(form).send().await.unwrap();
            next = location(&response).unwrap_or_else(|| panic!("{target}: no redirect after the interaction"));
            continue;
        }
        next = target;
    }
    panic!("no redirect to {redirect_prefix} within {MAX_HOPS} hops");
}

/// Loads a seed document into the database of a running platform (a store of its own on the
/// same database; the server reads connectors and connections from the database on each request).
pub async fn load_seed(platform: &TestPlatform, seed: &str) {
    let store = platform.store().await;
    let batch = xkit_dash::server::seed::parse(seed, "test seed").unwrap();
    store.import(batch).await.unwrap();
}

/// The refresh token the platform stores for a connection (no route ever returns it).
pub async fn stored_refresh_token(platform: &TestPlatform, connection_id: &str) -> Option<String> {
    use secrecy::ExposeSecret as _;
    let store = platform.store().await;
    let state = store.refresh_state(connection_id.to_owned()).await.unwrap();
    state.refresh_token.map(|token| token.expose_secret().to_owned())
}
