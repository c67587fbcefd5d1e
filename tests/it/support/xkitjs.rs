//! The Rust driver of the real xkit.js harness (`tests/xkitjs`): `xkit-dash serve --demo
//! --tls-self-signed` in a child process (the library speaks only https), its web origins and
//! keys, context tokens, and the jsdom runner (`run-node.mjs`, installed with `npm ci` on first
//! use), whose JSON report the tests read.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tempfile::TempDir;
use xkit_dash::server::tokens::TokenSigner;
use xkit_dash::server::{KeyPair, create_key_pair};

use super::oauth::npm_ci;
use super::server::ServeProcess;

/// A whole runner process, scenario included (its own deadline is 120 s).
const RUNNER_TIMEOUT: Duration = Duration::from_secs(150);
/// How long the server has to print its certificate's path after it listens.
const CERTIFICATE_LINE_TIMEOUT: Duration = Duration::from_secs(5);
/// Debian's Chromium, which playwright-core drives (it never downloads a browser of its own).
const CHROMIUM: &str = "/usr/bin/chromium";
/// Bound on installing it (`apt-get update` and the package, about 20 s here).
const CHROMIUM_INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// The page origin the tests allow, and one they never add.
pub const PAGE_ORIGIN: &str = "http://127.0.0.1:3000";
pub const UNLISTED_ORIGIN: &str = "http://127.0.0.1:3999";

fn harness_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/xkitjs")
}

/// Installs the harness's npm packages once per process.
fn ensure_installed() {
    static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(error) = INSTALLED.get_or_init(|| npm_ci(&harness_dir(), "@xkit-co/xkit.js")) {
        panic!("cannot install the xkit.js harness: {error}");
    }
}

/// The demo platform over https, as xkit.js reaches it.
pub struct XkitJsPlatform {
    pub server: ServeProcess,
    pub dir: TempDir,
    /// `127.0.0.1:PORT`, what a page passes to `xkit.init`.
    pub domain: String,
    /// The self-signed certificate the runner trusts (`NODE_EXTRA_CA_CERTS`).
    pub certificate: PathBuf,
    keys: KeyPair,
    http: reqwest::Client,
}

impl XkitJsPlatform {
    /// `serve --demo --tls-self-signed` with [`PAGE_ORIGIN`] allowed.
    pub fn start() -> Self {
        ensure_installed();
        let dir = tempfile::tempdir().expect("temporary directory");
        let server = ServeProcess::start(dir.path(), &["--demo", "--tls-self-signed"]);
        let domain = server.base_url.strip_prefix("https://").expect("the server speaks https").to_owned();
        let certificate = certificate_path(&server);
        let pem = std::fs::read(&certificate).expect("the certificate is readable");
        let http = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).expect("a PEM certificate"))
            .build()
            .unwrap();
        let keys = create_key_pair(dir.path()).expect("key pair");
        let platform = Self { server, dir, domain, certificate, keys, http };
        platform.add_origin(PAGE_ORIGIN);
        platform
    }

    /// `xkit-dash origins add ORIGIN --data-dir DIR`, as an operator would.
    pub fn add_origin(&self, origin: &str) {
        let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("xkit-dash"))
            .args(["origins", "add", origin, "--data-dir"])
            .arg(self.dir.path())
            .output()
            .expect("xkit-dash runs");
        assert!(output.status.success(), "origins add: {}", String::from_utf8_lossy(&output.stderr));
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url)
    }

    /// A context token for `external_id` (the context is created if absent), as a platform's
    /// backend mints it with its keys.
    pub async fn context_token(&self, external_id: &str) -> String {
        let response = self
            .http
            .post(self.url("/api/platform/context"))
            .basic_auth(&self.keys.publishable_key, Some(self.keys.secret_key.expose_secret()))
            .json(&json!({"context": {"external_id": external_id}}))
            .send()
            .await
            .expect("the server answers");
        assert!(response.status().is_success(), "minting a context token: {}", response.status());
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().expect("an access_token").to_owned()
    }

    /// The platform record (`GET /api/platform_user/platform`).
    pub async fn platform(&self) -> Value {
        let body: Value =
            self.http.get(self.url("/api/platform_user/platform")).send().await.unwrap().json().await.unwrap();
        body["platform"].clone()
    }

    /// A context token of this platform, correctly signed, that has expired.
    pub async fn expired_token(&self, external_id: &str) -> String {
        let slug = self.platform().await["slug"].as_str().unwrap().to_owned();
        let signer = TokenSigner::load(self.dir.path(), &slug, Duration::ZERO).unwrap();
        let token = signer.mint(external_id).unwrap();
        // It expires at the second it was minted, and the server allows no leeway.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        token
    }

    /// `GET /api/platform<path>` with the platform's keys, as its backend reads it.
    pub async fn platform_api(&self, path: &str) -> Value {
        let response = self
            .http
            .get(self.url(&format!("/api/platform{path}")))
            .basic_auth(&self.keys.publishable_key, Some(self.keys.secret_key.expose_secret()))
            .send()
            .await
            .expect("the server answers");
        assert!(response.status().is_success(), "GET /api/platform{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// `METHOD /api/platform_user<path>` with `Authorization: Bearer <token>` and a JSON body,
    /// as the library sends it; the answer's JSON, once it is a success.
    pub async fn client_api(&self, method: reqwest::Method, path: &str, token: &str, body: &Value) -> Value {
        let response = self
            .http
            .request(method.clone(), self.url(&format!("/api/platform_user{path}")))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("the server answers");
        assert!(response.status().is_success(), "{method} /api/platform_user{path}: {}", response.status());
        response.json().await.unwrap()
    }

    /// Runs `run-node.mjs --scenario SCENARIO` from a page on `origin`, logging in with
    /// `token`; `env` adds the scenario's other tokens. The report, once the runner exits 0.
    pub async fn run_node(&self, scenario: &str, origin: &str, token: &str, env: &[(&str, &str)]) -> Value {
        self.run_node_with_args(scenario, origin, token, env, &[]).await
    }

    /// [`Self::run_node`] with the runner's other options (`--slug`, `--other-connection-id`...).
    pub async fn run_node_with_args(
        &self,
        scenario: &str,
        origin: &str,
        token: &str,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Value {
        let mut command = tokio::process::Command::new("node");
        command
            .arg("run-node.mjs")
            .args(["--domain", &self.domain, "--origin", origin, "--scenario", scenario])
            .args(args)
            .env("NODE_EXTRA_CA_CERTS", &self.certificate)
            .envs(env.iter().copied());
        run(command, scenario, token).await
    }

    /// Runs `run-chromium.mjs --scenario SCENARIO` in headless Chromium (`/usr/bin/chromium`),
    /// its page served on a free loopback port whose origin is added to the platform first: an
    /// `http://` page, so a different site than the server (its cookies are third-party).
    pub async fn run_chromium(&self, scenario: &str, token: &str) -> Value {
        self.run_chromium_page(scenario, token, false, &[]).await
    }

    /// [`Self::run_chromium`] with the runner's other options (`--connect-call`...).
    pub async fn run_chromium_with_args(&self, scenario: &str, token: &str, args: &[&str]) -> Value {
        self.run_chromium_page(scenario, token, false, args).await
    }

    /// [`Self::run_chromium`] with the page served over https with the server's own
    /// certificate: `https://127.0.0.1:A` and `https://127.0.0.1:B` are the same site, so the
    /// browser keeps the session cookie the server sets.
    pub async fn run_chromium_same_site(&self, scenario: &str, token: &str) -> Value {
        self.run_chromium_page(scenario, token, true, &[]).await
    }

    async fn run_chromium_page(&self, scenario: &str, token: &str, same_site: bool, args: &[&str]) -> Value {
        static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
        if let Err(error) = INSTALLED.get_or_init(install_chromium) {
            panic!("the Chromium tests need {CHROMIUM}: {error}");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let scheme = if same_site { "https" } else { "http" };
        self.add_origin(&format!("{scheme}://127.0.0.1:{port}"));
        let mut command = tokio::process::Command::new("node");
        command.arg("run-chromium.mjs").args(["--domain", &self.domain, "--scenario", scenario]);
        command.arg("--cert").arg(&self.certificate).args(["--page-port", &port.to_string()]);
        if same_site {
            // The server saves its key next to its certificate (`*.crt.pem`, `*.key.pem`).
            let key = self.certificate.to_str().expect("a UTF-8 path").replace(".crt.pem", ".key.pem");
            command.arg("--page-cert").arg(&self.certificate).args(["--page-key", &key]);
        }
        command.args(args);
        run(command, scenario, token).await
    }
}

/// Installs Debian's `chromium` when it is missing, as `cargo test` on a fresh machine needs it
/// (root only: apt needs it; anyone else is told the command).
fn install_chromium() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    let root = std::process::Command::new("id").arg("-u").output().is_ok_and(|output| output.stdout == b"0\n");
    if !root {
        return Err("install it with: sudo apt-get install chromium".to_owned());
    }
    let script =
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium";
    let mut apt = std::process::Command::new("sh")
        .args(["-c", script])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|error| format!("cannot run apt-get: {error}"))?;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = apt.try_wait().map_err(|error| error.to_string())? {
            break status;
        }
        if started.elapsed() > CHROMIUM_INSTALL_TIMEOUT {
            let _ = apt.kill();
            let _ = apt.wait();
            return Err(format!("apt-get did not install chromium within {CHROMIUM_INSTALL_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    if status.success() && Path::new(CHROMIUM).exists() { Ok(()) } else { Err(format!("apt-get failed: {status}")) }
}

/// Runs a runner `command` in the harness directory with the login token; its report.
async fn run(mut command: tokio::process::Command, scenario: &str, token: &str) -> Value {
    command.current_dir(harness_dir()).env("XKITJS_TOKEN", token).kill_on_drop(true);
    let output = tokio::time::timeout(RUNNER_TIMEOUT, command.output())
        .await
        .unwrap_or_else(|_| panic!("the {scenario} runner did not end within {RUNNER_TIMEOUT:?}"))
        .expect("node runs (Node 20+ is needed)");
    assert!(
        output.status.success(),
        "the {scenario} runner failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the runner prints one JSON report")
}

/// A well-formed context token for `external_id` minted by another platform (its own key).
pub fn foreign_token(external_id: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let signer = TokenSigner::load(dir.path(), "another-platform", Duration::from_secs(3600)).unwrap();
    signer.mint(external_id).unwrap()
}

/// The path the server printed after `TLS certificate: `.
fn certificate_path(server: &ServeProcess) -> PathBuf {
    let started = Instant::now();
    loop {
        let stderr = server.stderr();
        if let Some(line) = stderr.lines().find_map(|line| line.strip_prefix("TLS certificate: ")) {
            return PathBuf::from(line.trim());
        }
        assert!(started.elapsed() < CERTIFICATE_LINE_TIMEOUT, "no certificate path printed: {stderr}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The step named `step` of the page named `page` in a report.
pub fn step<'a>(report: &'a Value, page: &str, step: &str) -> &'a Value {
    report["pages"]
        .as_array()
        .expect("pages")
        .iter()
        .filter(|each| each["page"] == page)
        .flat_map(|each| each["steps"].as_array().expect("steps"))
        .find(|each| each["step"] == step)
        .unwrap_or_else(|| panic!("no step {step:?} on page {page:?} in {report:#}"))
}

/// The step named `step` of a Chromium report (one page).
pub fn chromium_step<'a>(report: &'a Value, step: &str) -> &'a Value {
    report["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .find(|each| each["step"] == step)
        .unwrap_or_else(|| panic!("no step {step:?} in {report:#}"))
}

/// A step's requests as `METHOD /path STATUS` (the path below `/api/platform_user`), or
/// `METHOD /path failed: why` when the page never got an answer.
pub fn requests(step: &Value) -> Vec<String> {
    step["requests"]
        .as_array()
        .expect("requests")
        .iter()
        .map(|request| {
            let url = request["url"].as_str().unwrap();
            let path = url.split_once("/api/platform_user").map_or(url, |(_, path)| path);
            match request["status"].as_u64() {
                Some(status) => format!("{} {path} {status}", request["method"].as_str().unwrap()),
                None => format!("{} {path} failed: {}", request["method"].as_str().unwrap(), request["failed"]),
            }
        })
        .collect()
}

/// Where a step sent the page.
pub fn navigations(step: &Value) -> Vec<&str> {
    step["navigations"].as_array().expect("navigations").iter().map(|url| url.as_str().unwrap()).collect()
}
