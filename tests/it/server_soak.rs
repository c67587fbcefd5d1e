//! A bounded soak of the real `xkit-dash serve` process on the demo platform: a fixed number of
//! mixed requests (reads that refresh on read, context upserts, list pages, forced refreshes
//! through the sandbox provider) from several clients at once. No request may fail or get a 5xx,
//! and the server's resident memory must stay flat once warmed up.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use xkit_dash::server::{KeyPair, create_key_pair};

use crate::support::server::ServeProcess;

/// Requests sent in all, after the warm-up.
const REQUESTS: usize = 12_000;
/// Requests sent before the baseline memory reading (caches and pools fill up).
const WARM_UP: usize = 3_000;
const CLIENTS: usize = 8;
/// How much the resident set may grow between warm-up and the end (allocator noise, SQLite's
/// page cache settling): far below what a per-request leak would add over 12,000 requests.
const ALLOWED_GROWTH_KIB: u64 = 16 * 1024;
/// Every request, and the whole soak, is bounded in time.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const SOAK_LIMIT: Duration = Duration::from_secs(300);

/// The demo platform in a real server process, and a key pair for it.
struct Server {
    process: ServeProcess,
    keys: KeyPair,
    _dir: tempfile::TempDir,
}

fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let process = ServeProcess::start(dir.path(), &["--demo"]);
    let keys = create_key_pair(dir.path()).expect("key pair");
    Server { process, keys, _dir: dir }
}

/// The server's resident set, from `/proc`.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server is running");
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).expect("VmRSS in /proc status");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// One request of the mix, chosen by its number so every run sends the same load.
fn nth_request(number: usize, connections: &[Value]) -> (Method, String, Option<Value>) {
    let connection = &connections[number * 7919 % connections.len()];
    let context = connection["context"]["external_id"].as_str().unwrap();
    let slug = connection["connector"]["slug"].as_str().unwrap();
    let id = connection["id"].as_str().unwrap();
    match number % 10 {
        0..=4 => (Method::GET, format!("/contexts/{context}/connections/{slug}"), None),
        5 => (Method::GET, format!("/connections/{id}"), None),
        6 | 7 => {
            let body = json!({"context": {"external_id": format!("soak-{}", number % 500), "external_name": format!("Soak {number}")}});
            (Method::POST, "/context".to_owned(), Some(body))
        }
        8 => (Method::GET, format!("/contexts?limit=50&search={}", &context[..3.min(context.len())]), None),
        _ => (Method::POST, format!("/connections/{id}/refresh"), None),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_load_gets_no_errors_and_the_server_memory_stays_flat() {
    let server = Arc::new(start_server());
    let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().unwrap();
    let api = format!("{}/api/platform", server.process.base_url);
    let listing: Value = http
        .get(format!("{api}/connections?limit=1000"))
        .basic_auth(&server.keys.publishable_key, Some(server.keys.secret_key.expose_secret()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connections = Arc::new(listing["connections"].as_array().unwrap().clone());
    assert!(connections.len() > 100, "the demo platform has its connections");

    let next = Arc::new(AtomicUsize::new(0));
    let refreshed = Arc::new(AtomicUsize::new(0));
    let warm_rss = Arc::new(AtomicUsize::new(0));
    let pid = server.process.pid();
    let soak = async {
        let clients = (0..CLIENTS).map(|_| {
            let (http, api, server, connections, next, warm_rss, refreshed) = (
                http.clone(),
                api.clone(),
                server.clone(),
                connections.clone(),
                next.clone(),
                warm_rss.clone(),
                refreshed.clone(),
            );
            tokio::spawn(async move {
                let mut failures = Vec::new();
                loop {
                    let number = next.fetch_add(1, Ordering::SeqCst);
                    if number >= WARM_UP + REQUESTS {
                        return failures;
                    }
                    if number == WARM_UP {
                        warm_rss.store(resident_kib(pid) as usize, Ordering::SeqCst);
                    }
                    let (method, path, body) = nth_request(number, &connections);
                    let mut request = http
                        .request(method.clone(), format!("{api}{path}"))
                        .basic_auth(&server.keys.publishable_key, Some(server.keys.secret_key.expose_secret()));
                    if let Some(body) = body {
                        request = request.json(&body);
                    }
                    match request.send().await {
                        // A forced refresh may be refused by the provider (a revoked demo grant)
                        // or while its cooldown runs: a 4xx that says so, never a 5xx.
                        Ok(response) if path.ends_with("/refresh") && response.status().is_client_error() => {}
                        Ok(response) if response.status() == StatusCode::OK => {
                            if path.ends_with("/refresh") {
                                refreshed.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Ok(response) => failures.push(format!("{method} {path}: {}", response.status())),
                        Err(error) => failures.push(format!("{method} {path}: {error}")),
                    }
                }
            })
        });
        let mut failures = Vec::new();
        for client in clients.collect::<Vec<_>>() {
            failures.extend(client.await.unwrap());
        }
        failures
    };
    let failures = tokio::time::timeout(SOAK_LIMIT, soak).await.expect("the soak ends within its time limit");
    let end_rss = resident_kib(pid);
    let warm_rss = warm_rss.load(Ordering::SeqCst) as u64;

    assert!(
        failures.is_empty(),
        "{} of {REQUESTS} requests failed, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(refreshed.load(Ordering::SeqCst) > 0, "some forced refreshes went through the sandbox provider");
    eprintln!("server RSS after warm-up {warm_rss} KiB, after {REQUESTS} more requests {end_rss} KiB");
    assert!(
        end_rss <= warm_rss + ALLOWED_GROWTH_KIB,
        "the server's memory grew from {warm_rss} KiB to {end_rss} KiB over {REQUESTS} requests"
    );
}
