//! Event benchmarks: what writing events costs the Platform API's paths, and how fast a change
//! reaches many long-polling readers.
//!
//! - single read (`GET /contexts/:id/connections/:slug`, 64 clients): no event is written on
//!   this path, so the figure shows that events cost reads nothing;
//! - upsert (`POST /context`, 16 clients): each request inserts a context, and with events its
//!   `context.created` in the same transaction, or updates an existing one (no event);
//! - the same two writes without HTTP, one at a time through the store (`Store::upsert_context`
//!   for a new context, and `Store::save_refreshed_tokens`, the write a refresh on read makes):
//!   what the triggers add to a transaction, without the load generator on the same cores;
//! - long-poll fan-out: 100 clients wait on `GET /events?wait=25s`; one change is made and the
//!   time until all 100 have their answer is measured (skipped on a server without events);
//! - one tick of the proactive refresh scheduler at 100,000 connections: its query for due
//!   tokens, with the generated platform's expired tokens due, then in the steady state (every
//!   token fresh, as the scheduler keeps them).
//!
//! The first two ran unchanged against the build before events (this file without the tick
//! measurement, copied into a checkout of that commit), so BENCHMARKS.md puts the two side by
//! side. `XKIT_BENCH_QUICK=1` runs everything at small sizes; nothing is asserted.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use axum::http::header::AUTHORIZATION;
use base64::Engine as _;
use secrecy::ExposeSecret as _;
use tempfile::TempDir;
use xkit_dash::server::store::{IssuedTokens, Store};
use xkit_dash::server::{KeyPair, RunningServer, ServerConfig, create_key_pair, scale, start};

const READ_CLIENTS: usize = 64;
const UPSERT_CLIENTS: usize = 16;
const WAITING_CLIENTS: usize = 100;

struct Sizes {
    connections: usize,
    tick_connections: usize,
    store_writes: usize,
    load_for: Duration,
    fan_out_rounds: usize,
}

impl Sizes {
    fn from_env() -> Self {
        if std::env::var("XKIT_BENCH_QUICK").is_ok_and(|value| !value.is_empty() && value != "0") {
            Sizes {
                connections: 1_000,
                tick_connections: 2_000,
                store_writes: 200,
                load_for: Duration::from_millis(500),
                fan_out_rounds: 2,
            }
        } else {
            Sizes {
                connections: 10_000,
                tick_connections: 100_000,
                store_writes: 2_000,
                load_for: Duration::from_secs(10),
                fan_out_rounds: 10,
            }
        }
    }
}

struct Platform {
    server: RunningServer,
    keys: KeyPair,
    _dir: TempDir,
}

impl Platform {
    fn basic_auth(&self) -> String {
        let pair = format!("{}:{}", self.keys.publishable_key, self.keys.secret_key.expose_secret());
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(pair))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/platform{path}", self.server.base_url())
    }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let sizes = Sizes::from_env();
    let dir = tempfile::tempdir()?;
    scale::seed(dir.path(), sizes.connections).await?;
    let server = start(ServerConfig::new(dir.path())).await?;
    let keys = create_key_pair(dir.path())?;
    let platform = Platform { server, keys, _dir: dir };
    let http = reqwest::Client::builder().pool_max_idle_per_host(WAITING_CLIENTS + READ_CLIENTS).build()?;

    let paths = read_paths(&platform, &http).await?;
    load("single read", READ_CLIENTS, sizes.load_for, |worker, round| {
        let request = http.get(platform.url(&paths[(worker * 997 + round) % paths.len()]));
        request.header(AUTHORIZATION, platform.basic_auth())
    })
    .await?;
    load("upsert, new context", UPSERT_CLIENTS, sizes.load_for, |worker, round| {
        let body = serde_json::json!({"context": {"external_id": format!("bench_{worker}_{round}")}});
        http.post(platform.url("/context")).header(AUTHORIZATION, platform.basic_auth()).json(&body)
    })
    .await?;
    load("upsert, existing context", UPSERT_CLIENTS, sizes.load_for, |worker, round| {
        let body = serde_json::json!({"context": {"external_id": format!("bench_{worker}_{}", round % 50),
            "external_name": format!("renamed {round}")}});
        http.post(platform.url("/context")).header(AUTHORIZATION, platform.basic_auth()).json(&body)
    })
    .await?;
    long_poll_fan_out(&platform, &http, sizes.fan_out_rounds).await?;
    platform.server.shutdown().await;
    store_writes(sizes.store_writes).await?;
    scheduler_tick(sizes.tick_connections).await
}

/// `count` writes one after the other straight through the store: median and p99 of each.
async fn store_writes(count: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(&xkit_dash::server::database_path(dir.path()), 1)?;
    let seed = r#"{"connectors": [{"slug": "crm", "name": "CRM", "oauth": {"authorize_url": "http://127.0.0.1:9/a",
        "token_url": "http://127.0.0.1:9/t", "client_id": "id", "client_secret": "secret"}}],
        "contexts": [{"external_id": "u1"}],
        "connections": [{"id": "c1", "context": "u1", "connector": "crm", "authorization": {"status": "active",
        "access_token": "a0", "refresh_token": "r0", "expires_at": "now+1h", "last_refreshed_at": "now"}}]}"#;
    store.import(xkit_dash::server::seed::parse(seed, "bench seed")?).await?;
    let summary = |mut times: Vec<Duration>| {
        times.sort_unstable();
        (ms(times[times.len() / 2]), ms(times[(times.len() * 99 / 100).min(times.len() - 1)]))
    };
    let mut times = Vec::with_capacity(count);
    for index in 0..count {
        let context = xkit_dash::model::Context { external_id: format!("write_{index}"), ..Default::default() };
        let started = Instant::now();
        store.upsert_context(context).await?;
        times.push(started.elapsed());
    }
    let (p50, p99) = summary(times);
    println!("store upsert_context (new), {count} sequential: p50 {p50:.3} ms, p99 {p99:.3} ms");
    let mut times = Vec::with_capacity(count);
    for index in 0..count {
        let tokens = IssuedTokens {
            access_token: format!("a{}", index + 1).into(),
            refresh_token: Some(format!("r{}", index + 1).into()),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        };
        let started = Instant::now();
        let saved = store.save_refreshed_tokens("c1".into(), format!("r{index}").into(), tokens).await?;
        times.push(started.elapsed());
        if !saved {
            bail!("refresh {index} was not saved");
        }
    }
    let (p50, p99) = summary(times);
    println!("store save_refreshed_tokens, {count} sequential: p50 {p50:.3} ms, p99 {p99:.3} ms");
    Ok(())
}

/// The scheduler's query for due tokens (`Store::due_for_refresh`, what one tick reads) on a
/// generated platform: median of 20 runs, as the tick makes it (5 min margin, 24 h idle).
async fn scheduler_tick(connections: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    scale::seed(dir.path(), connections).await?;
    let path = xkit_dash::server::database_path(dir.path());
    let store = Store::open(&path, 1)?;
    let due_now = || async {
        let now = chrono::Utc::now();
        let idle_before = now - chrono::Duration::hours(24);
        let mut times = Vec::new();
        let mut due = 0;
        for _ in 0..20 {
            let started = Instant::now();
            due = store.due_for_refresh(now, chrono::Duration::minutes(5), idle_before, 10_000).await?.len();
            times.push(started.elapsed());
        }
        times.sort_unstable();
        anyhow::Ok((times[times.len() / 2], due))
    };
    let (first, due) = due_now().await?;
    println!(
        "scheduler tick query, {connections} connections, generated expired tokens due: {:.2} ms ({due} due)",
        ms(first)
    );
    // The steady state: every refreshable token fresh, as after the scheduler's first ticks.
    let db = rusqlite::Connection::open(&path)?;
    db.execute(
        "UPDATE authorizations SET expires_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now', '+1 hour'),
             last_refreshed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
         WHERE status = 'active' AND refresh_token <> ''",
        [],
    )?;
    let (steady, due) = due_now().await?;
    println!("scheduler tick query, {connections} connections, steady state: {:.3} ms ({due} due)", ms(steady));
    Ok(())
}

/// Up to 1,000 existing `(context, connector)` read paths, from the first bulk page.
async fn read_paths(platform: &Platform, http: &reqwest::Client) -> Result<Vec<String>> {
    let page: serde_json::Value = http
        .get(platform.url("/connections?limit=1000"))
        .header(AUTHORIZATION, platform.basic_auth())
        .send()
        .await?
        .json()
        .await?;
    let mut paths: Vec<String> = page["connections"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|connection| {
            let context = connection["context"]["external_id"].as_str()?;
            let connector = connection["connector"]["slug"].as_str()?;
            Some(format!("/contexts/{context}/connections/{connector}"))
        })
        .collect();
    paths.sort();
    paths.dedup();
    if paths.is_empty() {
        bail!("the platform has no connections to read");
    }
    Ok(paths)
}

/// `clients` workers send `request(worker, round)` until the time is up: throughput and
/// latency percentiles of the successful answers.
async fn load(
    what: &str,
    clients: usize,
    duration: Duration,
    request: impl Fn(usize, usize) -> reqwest::RequestBuilder,
) -> Result<()> {
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let workers = (0..clients).map(|worker| {
        let request = &request;
        async move {
            let mut latencies = Vec::new();
            let mut failures = 0usize;
            for round in 0.. {
                if Instant::now() >= deadline {
                    break;
                }
                let sent = Instant::now();
                let ok = match request(worker, round).send().await {
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
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed();
    let failures: usize = results.iter().map(|(_, failed)| failed).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(latencies, _)| latencies).collect();
    latencies.sort_unstable();
    let percentile = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    if latencies.is_empty() {
        bail!("{what}: no successful request");
    }
    println!(
        "{what}, {clients} clients, {:.1} s: {:>7.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {failures} failures",
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(percentile(0.50)),
        ms(percentile(0.99)),
    );
    Ok(())
}

/// [`WAITING_CLIENTS`] long-polls wait for an event after the newest; one `POST /context`
/// makes one; the time from sending that request to the last long-poll's answer.
async fn long_poll_fan_out(platform: &Platform, http: &reqwest::Client, rounds: usize) -> Result<()> {
    let auth = platform.basic_auth();
    let probe = http.get(platform.url("/events?limit=1")).header(AUTHORIZATION, &auth).send().await?;
    if probe.status() == reqwest::StatusCode::NOT_FOUND {
        println!("long-poll fan-out skipped: this build has no GET /events");
        return Ok(());
    }
    let mut spreads = Vec::new();
    for round in 0..rounds {
        // The newest event's cursor: page through what exists (bounded).
        let mut cursor = String::new();
        for _ in 0..10_000 {
            let page: serde_json::Value = http
                .get(platform.url(&format!("/events?after={cursor}&limit=500")))
                .header(AUTHORIZATION, &auth)
                .send()
                .await?
                .json()
                .await?;
            cursor = page["next_cursor"].as_str().unwrap_or_default().to_owned();
            if page["events"].as_array().is_none_or(|events| events.len() < 500) {
                break;
            }
        }
        let waiting = (0..WAITING_CLIENTS).map(|_| {
            let request =
                http.get(platform.url(&format!("/events?after={cursor}&wait=25s"))).header(AUTHORIZATION, &auth);
            tokio::spawn(async move {
                let response = request.send().await?;
                let events: serde_json::Value = response.json().await?;
                anyhow::Ok((Instant::now(), events["events"].as_array().map_or(0, Vec::len)))
            })
        });
        let waiting: Vec<_> = waiting.collect();
        // Let every long-poll reach the server and start waiting.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let changed = Instant::now();
        let body = serde_json::json!({"context": {"external_id": format!("fan_out_{round}")}});
        http.post(platform.url("/context")).header(AUTHORIZATION, &auth).json(&body).send().await?;
        let mut last = changed;
        for answer in futures::future::join_all(waiting).await {
            let (at, events) = answer??;
            if events == 0 {
                bail!("a long-poll answered without the new event");
            }
            last = last.max(at);
        }
        spreads.push(last - changed);
    }
    spreads.sort_unstable();
    println!(
        "long-poll fan-out, {WAITING_CLIENTS} waiting clients, {rounds} rounds: change to all answered median {:.1} ms, max {:.1} ms",
        ms(spreads[spreads.len() / 2]),
        ms(spreads[spreads.len() - 1])
    );
    Ok(())
}
