//! The bundled server on SQLite and on PostgreSQL, side by side, with the same server binary:
//!
//! - seeding N connections (`scale::seed_at`: the bulk import `serve --demo-scale` runs);
//! - the bulk scan of all N (`scan::collect`: the NDJSON export the CLI and dashboard read),
//!   its time and the node's resident memory before and at its peak;
//! - single reads (`GET /contexts/:id/connections/:slug`, 64 clients): req/s, p50, p99;
//! - upserts (`POST /context`, a new context each, 16 clients): req/s, p50, p99;
//! - on PostgreSQL, the same two loads on two nodes of one database, the clients split over
//!   both, against the one node before.
//!
//! Nodes are `xkit-dash serve` processes (`benches/support/node.rs`); PostgreSQL is a throwaway
//! cluster with `fsync` on, or `XKIT_BENCH_DATABASE_URL` (`benches/support/postgres.rs`); the
//! load generator runs in this process, on the same cores. `XKIT_BENCH_QUICK=1` runs small
//! sizes (CI); nothing is asserted: figures are printed for BENCHMARKS.md.

mod support;

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use xkit_dash::client::{ApiTarget, Client, ClientOptions};
use xkit_dash::scan::{self, ScanRequest};
use xkit_dash::server::{KeyPair, PlatformLocation, create_key_pair_at, scale};

use support::cpu::{self, Meters};
use support::node::Node;
use support::postgres;

const READ_CLIENTS: usize = 64;
const UPSERT_CLIENTS: usize = 16;
/// Existing `(context, connector)` pairs the single reads rotate over.
const READ_PATHS: u32 = 1000;

struct Sizes {
    connections: usize,
    load_for: Duration,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var("XKIT_BENCH_QUICK").is_ok_and(|value| !value.is_empty() && value != "0") {
            Sizes { connections: 2_000, load_for: Duration::from_millis(500) }
        } else {
            Sizes { connections: 100_000, load_for: Duration::from_secs(10) }
        }
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes = Sizes::from_env();
    println!("load average at start: {}", load_average());
    backend("sqlite", None, None, &sizes).await?;
    match postgres::Server::start()? {
        Some(server) => {
            let database = server.fresh_database().await?;
            let label = format!("postgres ({})", server.describe());
            backend(&label, Some(&database), server.postmaster_pid(), &sizes).await?;
            server.drop_database(&database).await?;
        }
        None => println!(
            "postgres skipped: no initdb on PATH or in /usr/lib/postgresql, and no {}",
            postgres::DATABASE_URL_ENV
        ),
    }
    println!("load average at end: {}", load_average());
    Ok(())
}

/// Every measurement on one backend: SQLite in a temporary directory (`database` `None`), or
/// the PostgreSQL database at `database` (whose cluster's CPU is counted when `postmaster` is
/// known).
async fn backend(label: &str, database: Option<&str>, postmaster: Option<u32>, sizes: &Sizes) -> Result<()> {
    println!("== {label}");
    let dir = tempfile::tempdir()?;
    let location = match database {
        Some(url) => PlatformLocation::Postgres(SecretString::from(url.to_owned())),
        None => PlatformLocation::DataDir(dir.path().to_owned()),
    };
    let started = Instant::now();
    let report = scale::seed_at(&location, sizes.connections).await?;
    println!(
        "seed {} connections ({} contexts): {:.2} s",
        report.connections_added,
        report.contexts_added,
        started.elapsed().as_secs_f64()
    );
    let keys = create_key_pair_at(&location).await?;
    let node = Node::start(dir.path(), database, "a")?;
    bulk_scan(&node, &keys, sizes.connections).await?;

    let paths = read_paths(&node, &keys).await?;
    let auth = basic_auth(&keys);
    let http = reqwest::Client::builder().pool_max_idle_per_host(READ_CLIENTS).build()?;
    let one = Nodes {
        label: "1 node",
        urls: vec![node.base_url.clone()],
        meters: Meters { nodes: vec![node.pid()], postgres: postmaster },
    };
    warm_up(&http, &one.urls, &paths, &auth).await?;
    single_reads(&one, &http, &paths, &auth, sizes).await?;
    upserts(&one, &http, &auth, sizes).await?;
    if database.is_some() {
        let second_dir = tempfile::tempdir()?;
        let second = Node::start(second_dir.path(), database, "b")?;
        let both = Nodes {
            label: "2 nodes",
            urls: vec![node.base_url.clone(), second.base_url.clone()],
            meters: Meters { nodes: vec![node.pid(), second.pid()], postgres: postmaster },
        };
        warm_up(&http, &both.urls, &paths, &auth).await?;
        single_reads(&both, &http, &paths, &auth, sizes).await?;
        upserts(&both, &http, &auth, sizes).await?;
    }
    Ok(())
}

/// The whole platform as the CLI and the dashboard read it (`scan::collect`: the NDJSON export).
async fn bulk_scan(node: &Node, keys: &KeyPair, expected: usize) -> Result<()> {
    let client = client(node, keys)?;
    let before = node.rss_mib()?;
    let started = Instant::now();
    let rows = scan::collect(client, ScanRequest::default()).await?;
    let elapsed = started.elapsed();
    if rows.len() != expected {
        bail!("the bulk scan returned {} connections, expected {expected}", rows.len());
    }
    println!(
        "bulk scan {expected} connections: {:.0} ms; node VmRSS {before:.1} MiB before, peak VmHWM {:.1} MiB",
        ms(elapsed),
        node.peak_rss_mib()?
    );
    Ok(())
}

/// The nodes a load is spread over (client `i` talks to node `i % nodes`), and the processes
/// whose CPU it counts.
struct Nodes {
    label: &'static str,
    urls: Vec<String>,
    meters: Meters,
}

impl Nodes {
    fn url(&self, worker: usize, path: &str) -> String {
        format!("{}{path}", self.urls[worker % self.urls.len()])
    }
}

/// `GET /contexts/:id/connections/:slug` from [`READ_CLIENTS`] clients over existing pairs.
async fn single_reads(
    nodes: &Nodes,
    http: &reqwest::Client,
    paths: &[String],
    auth: &str,
    sizes: &Sizes,
) -> Result<()> {
    let label = format!("single read, {}", nodes.label);
    load(&label, READ_CLIENTS, sizes.load_for, &nodes.meters, |worker, round| {
        let path = &paths[(worker * 997 + round) % paths.len()];
        http.get(nodes.url(worker, path)).header(AUTHORIZATION, auth)
    })
    .await
}

/// Every read path once on every node, unmeasured: the generated platform's expired tokens are
/// refreshed (a write each) and each node's pooled connections have prepared their statements
/// before a load is timed, so that the first load measured does not pay for them.
async fn warm_up(http: &reqwest::Client, nodes: &[String], paths: &[String], auth: &str) -> Result<()> {
    use futures::StreamExt as _;
    let requests = nodes.iter().flat_map(|node| paths.iter().map(move |path| format!("{node}{path}")));
    let mut answers = futures::stream::iter(requests)
        .map(|url| async move { http.get(url).header(AUTHORIZATION, auth).send().await?.error_for_status() })
        .buffer_unordered(UPSERT_CLIENTS);
    while let Some(answer) = answers.next().await {
        answer?;
    }
    Ok(())
}

/// `POST /context` creating a new context each, from [`UPSERT_CLIENTS`] clients.
async fn upserts(nodes: &Nodes, http: &reqwest::Client, auth: &str, sizes: &Sizes) -> Result<()> {
    let run = nodes.urls.len();
    load(&format!("upsert, {}", nodes.label), UPSERT_CLIENTS, sizes.load_for, &nodes.meters, |worker, round| {
        let body = serde_json::json!({"context": {"external_id": format!("bench_{run}_{worker}_{round}")}});
        http.post(nodes.url(worker, "/api/platform/context")).header(AUTHORIZATION, auth).json(&body)
    })
    .await
}

/// `clients` loops sending `request(worker, round)` for `duration`: throughput and latency
/// percentiles of the successful answers, the count of the others, and the CPU time per answer
/// of the nodes, of PostgreSQL (when its processes are ours to read) and of the load generator.
async fn load(
    label: &str,
    clients: usize,
    duration: Duration,
    meters: &Meters,
    request: impl Fn(usize, usize) -> reqwest::RequestBuilder,
) -> Result<()> {
    let load_before = load_average();
    let cpu_before = cpu::sample(meters);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..clients).map(|worker| {
        let request = &request;
        async move {
            let (mut latencies, mut failures) = (Vec::new(), 0usize);
            let mut round = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let ok = match request(worker, round).send().await {
                    Ok(response) => response.status().is_success() && response.bytes().await.is_ok(),
                    Err(_) => false,
                };
                round += 1;
                if ok {
                    latencies.push(sent.elapsed());
                } else {
                    failures += 1;
                }
            }
            (latencies, failures)
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed();
    let cpu_after = cpu::sample(meters);
    let failures: usize = results.iter().map(|(_, failed)| failed).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(latencies, _)| latencies).collect();
    latencies.sort_unstable();
    let percentile =
        |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
    let (Some(p50), Some(p99)) = (percentile(0.50), percentile(0.99)) else { bail!("{label}: no successful request") };
    println!(
        "{label}, {clients} clients, {:.1} s: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {failures} failures (load {load_before})",
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(*p50),
        ms(*p99)
    );
    let per_answer = |before: f64, after: f64| (after - before) * 1e6 / latencies.len() as f64;
    let postgres = match meters.postgres {
        Some(_) => format!(", postgres {:.0} µs", per_answer(cpu_before.1, cpu_after.1)),
        None => String::new(),
    };
    println!(
        "  CPU per answer: nodes {:.0} µs{postgres}, load generator {:.0} µs",
        per_answer(cpu_before.0, cpu_after.0),
        per_answer(cpu_before.2, cpu_after.2)
    );
    Ok(())
}

/// Up to [`READ_PATHS`] existing read paths, from the first page of the listing.
async fn read_paths(node: &Node, keys: &KeyPair) -> Result<Vec<String>> {
    let page = client(node, keys)?.list_connections(&Default::default(), None, Some(READ_PATHS)).await?;
    let mut paths: Vec<String> = page
        .connections
        .iter()
        .filter_map(|connection| {
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

fn client(node: &Node, keys: &KeyPair) -> Result<Client> {
    let target = ApiTarget {
        api_url: node.base_url.clone(),
        publishable_key: keys.publishable_key.clone(),
        secret_key: keys.secret_key.clone(),
    };
    Ok(Client::new(&target, &ClientOptions::default())?)
}

fn basic_auth(keys: &KeyPair) -> String {
    let pair = format!("{}:{}", keys.publishable_key, keys.secret_key.expose_secret());
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
}

/// The 1-minute load average (`/proc/loadavg`): the machine is shared.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
