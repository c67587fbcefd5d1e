//! Shared setup of the server tests: a real server on 127.0.0.1:0 over a temporary data
//! directory, a key pair, and a reqwest client that speaks Basic auth as the seeds do.
//!
//! The platform lives where the test target's `crate::BACKEND` says: SQLite in the data
//! directory (`tests/it`), or a fresh PostgreSQL database of its own (`tests/postgres`), the data
//! directory then holding only what stays per node.

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tempfile::TempDir;
use xkit_dash::client::{ApiTarget, Client, ClientOptions};
use xkit_dash::server::store::Store;
use xkit_dash::server::tokens::TokenSigner;
use xkit_dash::server::{KeyPair, PlatformLocation, RunningServer, ServerConfig, create_key_pair_at, start};

use super::Backend;

pub struct TestPlatform {
    pub server: RunningServer,
    pub dir: TempDir,
    /// The platform's PostgreSQL database (`None` on SQLite): a restart keeps it.
    pub database: Option<String>,
    pub keys: KeyPair,
    pub http: reqwest::Client,
    /// With `XKIT_TEST_TWO_NODES` set, on PostgreSQL: a second node on the same database, which
    /// every other request of [`TestPlatform::request`] goes to.
    pub second: Option<RunningServer>,
}

/// Which node the next request goes to, when there are two.
static NEXT_NODE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl TestPlatform {
    /// An empty platform.
    pub async fn empty() -> Self {
        Self::with(|config| config).await
    }

    /// The bundled demo platform.
    pub async fn demo() -> Self {
        Self::with(|config| ServerConfig { demo: true, ..config }).await
    }

    /// A platform loaded from a seed document (the format of `serve --seed`).
    pub async fn seeded(seed: &str) -> Self {
        let seed_dir = tempfile::tempdir().expect("temporary directory");
        let seed_path = seed_dir.path().join("seed.json");
        std::fs::write(&seed_path, seed).expect("seed file");
        Self::with(|config| ServerConfig { seed: Some(seed_path), ..config }).await
    }

    pub async fn with(configure: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        Self::in_dir(tempfile::tempdir().expect("temporary directory"), configure).await
    }

    /// A platform on a data directory prepared beforehand (e.g. by `scale::seed`).
    pub async fn in_dir(dir: TempDir, configure: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        let database = new_database().await;
        Self::on(dir, database, configure).await
    }

    /// A generated platform of `connections` (`scale::seed`: the demo's connectors and health
    /// mix), seeded before the server starts.
    pub async fn generated(connections: usize) -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database = new_database().await;
        let location = config_for(dir.path(), database.as_deref()).location();
        xkit_dash::server::scale::seed_at(&location, connections).await.expect("generated platform");
        Self::on(dir, database, |config| config).await
    }

    async fn on(dir: TempDir, database: Option<String>, configure: impl FnOnce(ServerConfig) -> ServerConfig) -> Self {
        let config = configure(config_for(dir.path(), database.as_deref()));
        let server = start(config.clone()).await.expect("server starts");
        let keys = create_key_pair_at(&config.location()).await.expect("key pair");
        // The scheduler runs on the first node only: two schedulers are `postgres_nodes`' subject,
        // and each node keeps its own backoff of failing providers.
        let second = if database.is_some() && std::env::var_os("XKIT_TEST_TWO_NODES").is_some() {
            Some(start(ServerConfig { scheduler: None, ..config.clone() }).await.expect("the second node starts"))
        } else {
            None
        };
        Self { server, dir, database, keys, http: reqwest::Client::new(), second }
    }

    /// Stops the second node, if any: for a test of what a node keeps to itself (its limits,
    /// its settings).
    pub async fn single_node(mut self) -> Self {
        if let Some(second) = self.second.take() {
            second.shutdown().await;
        }
        self
    }

    /// Stops the server and starts a new one on the same data directory (and database).
    pub async fn restart(self) -> Self {
        let Self { server, dir, database, keys, http, second } = self;
        server.shutdown().await;
        let server = start(config_for(dir.path(), database.as_deref())).await.expect("server restarts");
        Self { server, dir, database, keys, http, second }
    }

    /// The configuration of another server (a second node) on this platform.
    pub fn config(&self) -> ServerConfig {
        config_for(self.dir.path(), self.database.as_deref())
    }

    /// Where the platform lives.
    pub fn location(&self) -> PlatformLocation {
        self.config().location()
    }

    /// A store of its own on the platform's database, as another process would open it.
    pub async fn store(&self) -> Store {
        self.location().open(1).await.expect("the platform's store opens")
    }

    /// The flags that name this platform to the data-directory commands (`keys`, `origins`,
    /// `webhooks`): `--data-dir DIR` or `--database URL`.
    pub fn platform_args(&self) -> Vec<String> {
        platform_args(self.dir.path(), self.database.as_deref())
    }

    /// The platform's context-token signing key: the data directory's key file on SQLite, the
    /// database's on PostgreSQL.
    pub async fn signing_key(&self) -> Vec<u8> {
        match &self.database {
            None => std::fs::read(self.dir.path().join("context-token.key")).expect("the signing key file"),
            Some(_) => {
                // The server stored its key when it started: the candidate is never kept.
                let candidate = secrecy::SecretSlice::from(vec![7u8; 64]);
                let key = self.store().await.shared_signing_key(candidate).await.unwrap().expect("a shared key");
                key.expose_secret().to_vec()
            }
        }
    }

    /// A context-token signer with the platform's signing key and `platform_slug`.
    pub async fn signer(&self, platform_slug: &str, ttl: std::time::Duration) -> TokenSigner {
        let key = secrecy::SecretSlice::from(self.signing_key().await);
        TokenSigner::with_key(&key, platform_slug, ttl).expect("a signing key")
    }

    pub fn secret(&self) -> &str {
        self.keys.secret_key.expose_secret()
    }

    /// The Platform API client of the CLI and the dashboard, with this platform's keys.
    pub fn client(&self) -> Client {
        self.client_via(&self.server.base_url())
    }

    /// The same client, talking to `api_url` (a proxy in front of this platform).
    pub fn client_via(&self, api_url: &str) -> Client {
        let target = ApiTarget {
            api_url: api_url.to_owned(),
            publishable_key: self.keys.publishable_key.clone(),
            secret_key: self.keys.secret_key.clone(),
        };
        Client::new(&target, &ClientOptions::default()).expect("client")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// `https://app.xkit.co/api/platform` of the seeds, on this server.
    pub fn platform_url(&self, path: &str) -> String {
        self.url(&format!("/api/platform{path}"))
    }

    /// A request to the Platform API with the seeds' Basic `publishable:secret`.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let base = match &self.second {
            Some(second) if !NEXT_NODE.fetch_add(1, std::sync::atomic::Ordering::Relaxed).is_multiple_of(2) => {
                second.base_url()
            }
            _ => self.server.base_url(),
        };
        self.http
            .request(method, format!("{base}/api/platform{path}"))
            .basic_auth(&self.keys.publishable_key, Some(self.secret()))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        send(self.request(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        send(self.request(Method::POST, path).json(&body)).await
    }

    pub async fn create_context(&self, context: Value) -> (StatusCode, Value) {
        self.post("/context", serde_json::json!({ "context": context })).await
    }

    /// Reconnects `connection_id` of `context` as a user does from the catalog's page: a
    /// context token, the catalog's authorize form, the demo sandbox's consent as `subject`,
    /// and the callback, which must answer 200.
    pub async fn repair_through_the_catalog(&self, context: &str, connector: &str, connection_id: &str, subject: &str) {
        use super::oauth::{browser, location, page_post};

        let (_, created) = self.create_context(serde_json::json!({ "external_id": context })).await;
        let token = created["access_token"].as_str().unwrap();
        let browser = browser();
        let started = page_post(&browser, self.url(&format!("/connectors/{connector}/authorize")))
            .form(&[("token", token), ("connection_id", connection_id)])
            .send()
            .await
            .unwrap();
        assert_eq!(started.status(), StatusCode::SEE_OTHER);
        let mut form: Vec<(String, String)> = location(&started).unwrap().query_pairs().into_owned().collect();
        form.extend([("subject".into(), subject.into()), ("decision".into(), "approve".into())]);
        let approved = page_post(&browser, self.url("/sandbox/oauth/authorize")).form(&form).send().await.unwrap();
        let done = browser.get(location(&approved).unwrap()).send().await.unwrap();
        assert_eq!(done.status(), StatusCode::OK);
    }

    /// Every item of a paged list, following `next_cursor` (bounded).
    pub async fn all_pages(&self, path_and_query: &str, key: &str, limit: usize) -> Vec<Value> {
        let separator = if path_and_query.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10_000 {
            let mut path = format!("{path_and_query}{separator}limit={limit}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let (status, body) = self.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            let page = body[key].as_array().unwrap_or_else(|| panic!("{path}: no {key} array in {body}"));
            assert!(page.len() <= limit, "a page holds at most `limit` items");
            items.extend(page.iter().cloned());
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return items,
            }
        }
        panic!("{path_and_query} did not end within 10,000 pages");
    }
}

/// `--data-dir DIR`, or `--database URL` when the platform is on PostgreSQL.
fn platform_args(data_dir: &std::path::Path, database: Option<&str>) -> Vec<String> {
    match database {
        Some(url) => vec!["--database".into(), url.to_owned()],
        None => vec!["--data-dir".into(), data_dir.to_str().expect("a UTF-8 path").to_owned()],
    }
}

/// The platform of `serve` child processes, on the test target's backend: a data directory
/// and, on PostgreSQL, a fresh database of its own that every process started on it shares.
pub struct ServedPlatform {
    pub dir: TempDir,
    pub database: Option<String>,
}

impl ServedPlatform {
    pub async fn new() -> Self {
        Self { dir: tempfile::tempdir().expect("temporary directory"), database: new_database().await }
    }

    /// `xkit-dash serve` on this platform, with `args`.
    pub fn serve(&self, args: &[&str]) -> ServeProcess {
        let mut all: Vec<&str> = self.database.iter().flat_map(|url| ["--database", url.as_str()]).collect();
        all.extend_from_slice(args);
        ServeProcess::start(self.dir.path(), &all)
    }

    /// The flags that name this platform to the data-directory commands.
    pub fn platform_args(&self) -> Vec<String> {
        platform_args(self.dir.path(), self.database.as_deref())
    }

    pub fn location(&self) -> PlatformLocation {
        config_for(self.dir.path(), self.database.as_deref()).location()
    }
}

/// A new database of the test target's backend: none on SQLite (the data directory holds it).
async fn new_database() -> Option<String> {
    match crate::BACKEND {
        Backend::Sqlite => None,
        Backend::Postgres => Some(super::postgres::fresh_database().await),
    }
}

/// A test configuration on `data_dir` and, when given, the PostgreSQL database `database`
/// (with a pool wide enough for the suites' concurrent requests).
fn config_for(data_dir: &std::path::Path, database: Option<&str>) -> ServerConfig {
    match database {
        None => ServerConfig::new(data_dir),
        Some(url) => ServerConfig {
            database: Some(secrecy::SecretString::from(url.to_owned())),
            read_connections: 16,
            ..ServerConfig::new(data_dir)
        },
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("request reaches the server");
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: body is not JSON: {text:?}"));
    (status, body)
}

/// The authorization of a `{"connection": ...}` answer.
pub fn authorization(body: &Value) -> &Value {
    &body["connection"]["authorization"]
}

/// Asserts an error answer: the status and a non-empty `{"error": "..."}`.
pub fn assert_error(result: &(StatusCode, Value), status: StatusCode) {
    assert_eq!(result.0, status, "{}", result.1);
    let message = result.1["error"].as_str().unwrap_or_else(|| panic!("no error message in {}", result.1));
    assert!(!message.is_empty());
}

/// The real `xkit-dash serve` in a child process, for what only a process shows: its stderr,
/// its own resource limits, a `kill -9`. Killed (by its own handle) when dropped.
pub struct ServeProcess {
    child: std::process::Child,
    pub base_url: String,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ServeProcess {
    /// `xkit-dash serve --addr 127.0.0.1:0 --data-dir DIR ARGS...`.
    pub fn start(data_dir: &std::path::Path, args: &[&str]) -> Self {
        Self::start_command(Self::command(data_dir, args))
    }

    /// The command line [`ServeProcess::start`] runs, to adjust before starting.
    pub fn command(data_dir: &std::path::Path, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(assert_cmd::cargo::cargo_bin("xkit-dash"));
        command.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"]).arg(data_dir).args(args);
        command
    }

    /// Runs `command` (which must start a server) and waits, at most 30 s, until it listens.
    pub fn start_command(mut command: std::process::Command) -> Self {
        use std::io::BufRead as _;
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .env("RUST_LOG", "info")
            .spawn()
            .expect("xkit-dash serve starts");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (listening, address) = std::sync::mpsc::channel();
        let lines = std::io::BufReader::new(child.stderr.take().expect("piped stderr")).lines();
        let collected = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let _ = listening.send(rest.split_whitespace().next().unwrap_or_default().to_owned());
                }
                collected.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        match address.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(base_url) => Self { child, base_url, stderr },
            Err(_) => {
                let _ = child.kill();
                panic!("serve did not listen within 30 s: {}", stderr.lock().unwrap());
            }
        }
    }

    /// The server's process id, to read its resource use from `/proc`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// `kill -9`, and wait for the process to be gone.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `u1` has a CRM connection `c1` (no provider) and an HR connection `c2` (an hour-long token
/// and a refresh token) whose provider is `provider_url` (`/authorize`, `/token`): whatever the
/// test points it at, a real provider, a hostile one, or a closed port.
pub fn two_connections_one_with_a_provider(provider_url: &str) -> String {
    serde_json::json!({
        "connectors": [
            {"slug": "crm", "name": "CRM"},
            {"slug": "hr", "name": "HR", "oauth": {"authorize_url": format!("{provider_url}/authorize"),
             "token_url": format!("{provider_url}/token"), "client_id": "id", "client_secret": "secret"}}
        ],
        "contexts": [{"external_id": "u1"}],
        "connections": [
            {"id": "c1", "context": "u1", "connector": "crm", "authorization": {"status": "active", "access_token": "a1"}},
            {"id": "c2", "context": "u1", "connector": "hr", "authorization": {
                "status": "active", "access_token": "a2", "refresh_token": "r2", "expires_at": "now+1h"}}
        ]
    })
    .to_string()
}
