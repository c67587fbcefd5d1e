//! Platform benchmarks: seeding a large platform, full health scans (bulk route, per-context
//! fan-out, and the same fan-out as a `curl` loop), and single-connection read throughput.
//!
//! `cargo bench --bench platform` measures the sizes recorded in BENCHMARKS.md;
//! `XKIT_BENCH_QUICK=1` runs everything at small sizes (CI keeps it compiling and running) and
//! skips the external tools (`curl`, `wrk`). Nothing here asserts a threshold: it prints figures.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use secrecy::ExposeSecret as _;
use tempfile::TempDir;
use tokio::process::Command;
use xkit_dash::client::{ApiTarget, Client, ClientOptions};
use xkit_dash::model::Connection;
use xkit_dash::scan::{self, ScanEvent, ScanMode, ScanRequest};
use xkit_dash::server::{KeyPair, RunningServer, ServerConfig, create_key_pair, scale, start};
use xkit_dash::tui::{self, Action, State};

/// Concurrent clients of the single-read load test (the figure the targets name).
const LOAD_CLIENTS: usize = 64;
/// Per-context requests in flight for the `xargs -P` form of the curl loop (the scan's default).
const CURL_PARALLEL: usize = scan::DEFAULT_CONCURRENCY;

struct Sizes {
    bulk: Vec<usize>,
    fan_out_contexts: usize,
    load_for: Duration,
    external_tools: bool,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var("XKIT_BENCH_QUICK").is_ok_and(|value| !value.is_empty() && value != "0") {
            Sizes {
                bulk: vec![2_000],
                fan_out_contexts: 100,
                load_for: Duration::from_millis(500),
                external_tools: false,
            }
        } else {
            Sizes {
                bulk: vec![10_000, 100_000],
                fan_out_contexts: 10_000,
                load_for: Duration::from_secs(10),
                external_tools: true,
            }
        }
    }
}

/// A generated platform served from a temporary data directory.
struct Platform {
    server: RunningServer,
    keys: KeyPair,
    _dir: TempDir,
}

impl Platform {
    async fn generate(connections: usize) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let started = Instant::now();
        let report = scale::seed(dir.path(), connections).await?;
        println!(
            "seed      {connections:>7} connections, {:>6} contexts: {:>8.1} ms",
            report.contexts_added,
            ms(started.elapsed())
        );
        let server = start(ServerConfig::new(dir.path())).await?;
        let keys = create_key_pair(dir.path())?;
        Ok(Platform { server, keys, _dir: dir })
    }

    fn client(&self, base_url: &str) -> Result<Client> {
        let target = ApiTarget {
            api_url: base_url.to_owned(),
            publishable_key: self.keys.publishable_key.clone(),
            secret_key: self.keys.secret_key.clone(),
        };
        Ok(Client::new(&target, &ClientOptions::default())?)
    }

    fn basic_auth(&self) -> String {
        let pair = format!("{}:{}", self.keys.publishable_key, self.keys.secret_key.expose_secret());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes = Sizes::from_env();
    let mut largest = None;
    for &connections in &sizes.bulk {
        let platform = Platform::generate(connections).await?;
        bulk_scan(&platform, connections).await?;
        largest = Some(platform);
    }
    let platform = largest.context("no bulk size configured")?;
    single_read_load(&platform, &sizes).await?;
    platform.server.shutdown().await;

    fan_out(&sizes).await
}

/// The whole platform through `GET /connections`: once collected as the CLI does, once fed
/// page by page into the dashboard's state through its reducer (the last row in state).
async fn bulk_scan(platform: &Platform, expected: usize) -> Result<()> {
    let client = platform.client(&platform.server.base_url())?;
    let started = Instant::now();
    let rows = scan::collect(client.clone(), ScanRequest::default()).await?;
    let collected = started.elapsed();
    check_count("bulk scan", rows.len(), expected)?;
    println!("bulk scan {expected:>7} connections, collected:     {:>8.1} ms", ms(collected));

    let started = Instant::now();
    let state = scan_into_state(client, ScanMode::Bulk).await?;
    check_count("bulk scan into state", state.data.connections.len(), expected)?;
    println!("bulk scan {expected:>7} connections, last row in state: {:>5.1} ms", ms(started.elapsed()));
    Ok(())
}

/// Runs a scan and hands every page to the dashboard's reducer as its scan worker does.
async fn scan_into_state(client: Client, expected_mode: ScanMode) -> Result<State> {
    let mut state = State::default();
    tui::update(&mut state, Action::Start);
    let generation = state.generation;
    let mut scan = scan::start(client, ScanRequest::default());
    while let Some(event) = scan.events.recv().await {
        match event {
            ScanEvent::Mode(mode) if mode != expected_mode => bail!("the scan used {mode:?}, not {expected_mode:?}"),
            ScanEvent::Mode(_) => {}
            ScanEvent::Page { connections, .. } => {
                let fallback = expected_mode == ScanMode::PerContext;
                let event = tui::LoadEvent::ConnectionsPage { connections, fallback };
                tui::update(&mut state, Action::Scan { generation, event });
            }
            ScanEvent::Finished(outcome) => {
                outcome?;
                return Ok(state);
            }
            // Contexts are only listed when the request asks for them.
            _ => {}
        }
    }
    bail!("the scan ended without finishing")
}

fn check_count(what: &str, got: usize, expected: usize) -> Result<()> {
    if got != expected {
        bail!("{what}: {got} connections, expected {expected}");
    }
    Ok(())
}

/// 10,000 contexts (five connections each) scanned per context through a proxy that hides the
/// bulk route, then the same requests as a user would send them with `curl`.
async fn fan_out(sizes: &Sizes) -> Result<()> {
    let contexts = sizes.fan_out_contexts;
    let connections = contexts * scale::CONNECTIONS_PER_CONTEXT;
    let platform = Platform::generate(connections).await?;
    let proxy = start_proxy_without_bulk_route(platform.server.base_url()).await?;
    let base = format!("http://{proxy}");
    let client = platform.client(&base)?;

    let started = Instant::now();
    let state = scan_into_state(client, ScanMode::PerContext).await?;
    let scanned = started.elapsed();
    // Xkit's per-context listing returns enabled connections only.
    let enabled = scale::batch(connections)?.connections.iter().filter(|connection| connection.enabled).count();
    check_count("fan-out scan", state.data.connections.len(), enabled)?;
    println!(
        "fan-out   {contexts:>7} contexts ({enabled} enabled connections, {} at once), last row in state: {:>8.1} ms",
        scan::DEFAULT_CONCURRENCY,
        ms(scanned)
    );

    if sizes.external_tools && tool_available("curl") {
        let work = tempfile::tempdir()?;
        for parallel in [1, CURL_PARALLEL] {
            let (elapsed, bytes) = curl_loop(&platform, &base, contexts, parallel, work.path()).await?;
            println!(
                "curl loop {contexts:>7} contexts, {parallel:>2} at once ({bytes} bytes): {:>8.1} ms = {:.1}x the fan-out scan",
                ms(elapsed),
                elapsed.as_secs_f64() / scanned.as_secs_f64()
            );
        }
    } else {
        println!("curl loop skipped (quick mode or no curl)");
    }
    platform.server.shutdown().await;
    Ok(())
}

fn tool_available(name: &str) -> bool {
    std::process::Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

/// `GET /contexts/{id}/connections` for every context with curl, as a shell user would:
/// sequentially in a `while read` loop, or with `xargs -P`. Credentials come from a 0600 netrc
/// file so they appear in no process listing.
async fn curl_loop(
    platform: &Platform,
    base: &str,
    contexts: usize,
    parallel: usize,
    work: &Path,
) -> Result<(Duration, u64)> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let netrc = work.join("netrc");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    std::io::Write::write_all(
        &mut options.open(&netrc)?,
        format!(
            "machine 127.0.0.1 login {} password {}\n",
            platform.keys.publishable_key,
            platform.keys.secret_key.expose_secret()
        )
        .as_bytes(),
    )?;
    let ids = work.join("contexts.txt");
    let list: Vec<String> = (0..contexts).map(scale::context_id).collect();
    std::fs::write(&ids, list.join("\n") + "\n")?;
    let output = work.join("connections.json");
    let script = if parallel == 1 {
        r#"while read -r id; do curl -sS --fail --netrc-file "$NETRC" "$BASE/api/platform/contexts/$id/connections"; done < "$IDS" > "$OUT""#.to_owned()
    } else {
        format!(
            r#"xargs -P {parallel} -I{{}} curl -sS --fail --netrc-file "$NETRC" "$BASE/api/platform/contexts/{{}}/connections" < "$IDS" > "$OUT""#
        )
    };
    let started = Instant::now();
    let status = Command::new("sh")
        .args(["-c", &script])
        .env("NETRC", &netrc)
        .env("BASE", base)
        .env("IDS", &ids)
        .env("OUT", &output)
        .status()
        .await?;
    let elapsed = started.elapsed();
    if !status.success() {
        bail!("the curl loop failed: {status}");
    }
    Ok((elapsed, std::fs::metadata(&output)?.len()))
}

/// A loopback proxy that answers 404 to `GET /connections` (a server without the extension)
/// and forwards everything else.
async fn start_proxy_without_bulk_route(upstream: String) -> Result<SocketAddr> {
    let http = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |request: Request| forward(http.clone(), upstream.clone(), request));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

async fn forward(http: reqwest::Client, upstream: String, request: Request) -> Response {
    if request.uri().path() == "/api/platform/connections" {
        let body = r#"{"error": "no route for /api/platform/connections"}"#;
        return (StatusCode::NOT_FOUND, [(CONTENT_TYPE, "application/json")], body).into_response();
    }
    let path = request.uri().path_and_query().map_or("/", |path| path.as_str());
    let mut outgoing = http.request(request.method().clone(), format!("{upstream}{path}"));
    if let Some(authorization) = request.headers().get(AUTHORIZATION) {
        outgoing = outgoing.header(AUTHORIZATION, authorization);
    }
    let result = async {
        let body = axum::body::to_bytes(request.into_body(), 1 << 20).await?;
        let response = outgoing.body(body).send().await?;
        let status = response.status();
        let content_type = response.headers().get(CONTENT_TYPE).cloned();
        let bytes = response.bytes().await?;
        let mut forwarded = Response::new(Body::from(bytes));
        *forwarded.status_mut() = status;
        if let Some(content_type) = content_type {
            forwarded.headers_mut().insert(CONTENT_TYPE, content_type);
        }
        anyhow::Ok(forwarded)
    }
    .await;
    result.unwrap_or_else(|error| (StatusCode::BAD_GATEWAY, error.to_string()).into_response())
}

/// `GET /contexts/:id/connections/:slug` from [`LOAD_CLIENTS`] concurrent clients over a
/// rotating set of existing pairs: throughput and latency percentiles. The load generator
/// shares the machine's two cores with the server.
async fn single_read_load(platform: &Platform, sizes: &Sizes) -> Result<()> {
    let base = platform.server.base_url();
    let paths = read_paths(platform).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(LOAD_CLIENTS).build()?;
    let auth = platform.basic_auth();
    let deadline = Instant::now() + sizes.load_for;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for worker in 0..LOAD_CLIENTS {
        let (http, auth, paths, base) = (http.clone(), auth.clone(), paths.clone(), base.clone());
        workers.spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            let mut next = worker * 997;
            while Instant::now() < deadline {
                let path = &paths[next % paths.len()];
                next += 1;
                let sent = Instant::now();
                let ok = match http.get(format!("{base}{path}")).header(AUTHORIZATION, &auth).send().await {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    failures += 1;
                }
            }
            (latencies, failures)
        });
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    while let Some(result) = workers.join_next().await {
        let (mut some, failed) = result?;
        latencies.append(&mut some);
        failures += failed;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let percentile =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
    let (Some(p50), Some(p99)) = (percentile(0.50), percentile(0.99)) else { bail!("no successful request") };
    println!(
        "single read, {LOAD_CLIENTS} clients, {:.1} s: {:>8.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {failures} failures (harness in-process)",
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(*p50),
        ms(*p99)
    );
    if sizes.external_tools && tool_available("wrk") {
        run_wrk(platform, &paths, sizes.load_for).await?;
    } else {
        println!("wrk skipped (quick mode or no wrk)");
    }
    Ok(())
}

/// Up to 1,000 existing `(context, connector)` read paths, taken from the first bulk page.
async fn read_paths(platform: &Platform) -> Result<Vec<String>> {
    let client = platform.client(&platform.server.base_url())?;
    let page = client.list_connections(&Default::default(), None, Some(1000)).await?;
    let mut paths: Vec<String> = page
        .connections
        .iter()
        .filter_map(|connection: &Connection| {
            let context = connection.context.as_ref()?;
            Some(format!("/api/platform/contexts/{}/connections/{}", context.external_id, connection.connector.slug))
        })
        .collect();
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        bail!("the platform has no connections to read");
    }
    Ok(paths)
}

/// The same load with Debian's `wrk` (2 threads, 64 connections) and `benches/wrk/single_read.lua`.
async fn run_wrk(platform: &Platform, paths: &[String], duration: Duration) -> Result<()> {
    let work = tempfile::tempdir()?;
    let paths_file = work.path().join("paths.txt");
    std::fs::write(&paths_file, paths.join("\n") + "\n")?;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/wrk/single_read.lua");
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{LOAD_CLIENTS}"), &format!("-d{}s", duration.as_secs().max(1)), "--latency"])
        .args(["-s", script, &platform.server.base_url()])
        .env("XKIT_WRK_AUTH", platform.basic_auth())
        .env("XKIT_WRK_PATHS", &paths_file)
        .output()
        .await?;
    print!("wrk -t2 -c{LOAD_CLIENTS}:\n{}", String::from_utf8_lossy(&output.stdout));
    if !output.status.success() {
        bail!("wrk failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
