//! Issue 14, item 5: faults of a platform on PostgreSQL. The database restarted under load on
//! two nodes (a private cluster of its own, stopped and started on its port): fast 503s while
//! it is down, both nodes back without a restart, nothing acknowledged lost and nothing
//! half-written. A node (the real `serve --database` binary) killed with SIGKILL while its
//! refresh of a connection is in flight: no lock left held, the other node refreshes the
//! connection once the claim's lease ends, and the connection is not stuck.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use secrecy::ExposeSecret as _;
use serde_json::json;
use xkit_dash::server::{PlatformLocation, ServerConfig, create_key_pair_at, start};

use crate::postgres_nodes::{FRESH_TOKENS, Nodes, seed};
use crate::support::hostile::{Answer, HostileServer};
use crate::support::postgres::{PrivateCluster, fresh_database, sql_client};
use crate::support::server::{ServeProcess, send};

/// One write of the load: which context, when it started and ended, and the answer.
#[derive(Debug, Clone)]
struct Attempt {
    external_id: String,
    started: Instant,
    took: Duration,
    status: Option<StatusCode>,
    /// The answer was JSON with a non-empty `error` string.
    json_error: bool,
}

/// Writers creating contexts on both nodes until stopped, each waiting a little between writes.
fn start_load(
    nodes: &Arc<Nodes>,
    writers: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Attempt>>> {
    (0..writers)
        .map(|writer| {
            let (nodes, stop) = (nodes.clone(), stop.clone());
            tokio::spawn(async move {
                let mut attempts = Vec::new();
                // Bounded: the test stops the load within a minute at 20 ms a write.
                for index in 0..5_000 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let external_id = format!("w{writer}-{index}");
                    let request = nodes
                        .request(writer, reqwest::Method::POST, "/context")
                        .timeout(Duration::from_secs(10))
                        .json(&json!({"context": {"external_id": external_id}}));
                    let started = Instant::now();
                    let answer = request.send().await;
                    let (status, json_error) = match answer {
                        Ok(response) => {
                            let status = response.status();
                            let body: serde_json::Value = response.json().await.unwrap_or_default();
                            (Some(status), body["error"].as_str().is_some_and(|error| !error.is_empty()))
                        }
                        Err(_) => (None, false),
                    };
                    attempts.push(Attempt { external_id, started, took: started.elapsed(), status, json_error });
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                attempts
            })
        })
        .collect()
}

/// PostgreSQL stopped (as a crash would) and started again on the same port while four writers
/// create contexts on two nodes: each request while it is down answers 503 with a JSON error
/// within 3 s; both nodes answer again once it is back, without a restart; every context
/// acknowledged is in the database, and every context in the database is whole (its event, and
/// the counters agree with a count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_loses_nothing_acknowledged_and_needs_no_node_restart() {
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start).await.unwrap().expect("a private cluster");
    let nodes = Arc::new(Nodes::start(&cluster.url(), |config| config).await);
    let stop = Arc::new(AtomicBool::new(false));
    let load = start_load(&nodes, 4, &stop);
    tokio::time::sleep(Duration::from_secs(1)).await;

    tokio::task::block_in_place(|| cluster.stop()).expect("the database stops");
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let restarting = Instant::now();
    tokio::task::block_in_place(|| cluster.start_server()).expect("the database starts again");

    let both_back = async || {
        let (a, b) = tokio::join!(nodes.get(0, "/contexts?limit=1"), nodes.get(1, "/contexts?limit=1"));
        a.0 == StatusCode::OK && b.0 == StatusCode::OK
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut back = false;
    while !back && Instant::now() < deadline {
        back = both_back().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(back, "both nodes answer again within 20 s of the restart, without a restart of their own");
    // More writes after the recovery.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let mut attempts = Vec::new();
    for writer in load {
        attempts.extend(writer.await.unwrap());
    }

    // While it was down: fast 503s with a JSON error (a request started just before the
    // restart may be answered by the database come back).
    let during: Vec<&Attempt> =
        attempts.iter().filter(|attempt| attempt.started >= stopped && attempt.started < restarting).collect();
    assert!(during.len() >= 8, "requests during the outage: {during:?}");
    for attempt in &during {
        assert!(attempt.took < Duration::from_secs(3), "answered within 3 s: {attempt:?}");
        let answered_after_restart = attempt.started + attempt.took >= restarting;
        let unavailable = attempt.status == Some(StatusCode::SERVICE_UNAVAILABLE) && attempt.json_error;
        let ok_once_back = answered_after_restart && attempt.status.is_some_and(|status| status.is_success());
        assert!(unavailable || ok_once_back, "a 503 with a JSON error: {attempt:?}");
    }
    let acknowledged: BTreeSet<&str> = attempts
        .iter()
        .filter(|attempt| attempt.status.is_some_and(|status| status.is_success()))
        .map(|attempt| attempt.external_id.as_str())
        .collect();
    let after = attempts.iter().filter(|attempt| attempt.started > restarting + Duration::from_secs(1));
    assert!(after.clone().any(|attempt| attempt.status == Some(StatusCode::OK)), "writes succeed after the restart");

    let sql = sql_client(&nodes.database).await;
    let rows = sql
        .query(
            "SELECT c.external_id, (SELECT count(*) FROM events e
                 WHERE e.event_type = 'context.created' AND e.context_id = c.external_id)
             FROM contexts c",
            &[],
        )
        .await
        .unwrap();
    let stored: BTreeMap<String, i64> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
    let missing: Vec<&&str> = acknowledged.iter().filter(|id| !stored.contains_key(**id)).collect();
    assert!(missing.is_empty(), "acknowledged but not stored: {missing:?}");
    let attempted: BTreeSet<&str> = attempts.iter().map(|attempt| attempt.external_id.as_str()).collect();
    for (external_id, events) in &stored {
        assert!(attempted.contains(external_id.as_str()), "{external_id} was never written");
        assert_eq!(*events, 1, "{external_id}: stored with its one context.created event");
    }
    let (status, stats) = nodes.get(1, "/stats").await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["contexts"].as_u64(), Some(stored.len() as u64), "the counters agree with a count");
    drop(sql);
    if let Ok(nodes) = Arc::try_unwrap(nodes) {
        nodes.shutdown().await;
    }
}

/// The real `serve --database` binary (node A) is killed with SIGKILL while its refresh of an
/// expired connection waits for the provider: no lock is left held in the database, the
/// in-process node B refreshes the connection once A's claim has run out (one more token
/// request), and afterwards the connection is active, unclaimed and fresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_refresh_leaves_no_lock_and_the_other_node_refreshes_after_the_lease() {
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    // The first token request (A's) is held until A is gone; the next ones are answered.
    let provider = HostileServer::start(move |_| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 { Answer::Hang } else { Answer::Json(200, FRESH_TOKENS.into()) }
    });
    let (_seed_dir, seed_path) = Nodes::seed_file(&seed(&provider.url, &["crm"], "now-1m", "now-2h"));
    let database = fresh_database().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let node_a = ServeProcess::start(dirs[0].path(), &["--database", &database, "--seed", seed_path.to_str().unwrap()]);
    let config = ServerConfig {
        database: Some(secrecy::SecretString::from(database.clone())),
        ..ServerConfig::new(dirs[1].path())
    };
    let node_b = start(config).await.expect("node B starts");
    let keys =
        create_key_pair_at(&PlatformLocation::Postgres(secrecy::SecretString::from(database.clone()))).await.unwrap();
    let http = reqwest::Client::new();
    let read = |base: String| {
        let request = http
            .get(format!("{base}/api/platform/contexts/u1/connections/crm"))
            .basic_auth(&keys.publishable_key, Some(keys.secret_key.expose_secret()))
            .timeout(Duration::from_secs(40));
        send(request)
    };

    let on_a = tokio::spawn(read(node_a.base_url.clone()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider.count("/crm/token") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(provider.count("/crm/token"), 1, "A's refresh is at the provider");
    let sql = sql_client(&database).await;
    let claims: i64 = sql.query_one("SELECT count(*) FROM refresh_claims", &[]).await.unwrap().get(0);
    assert_eq!(claims, 1, "A holds the connection's refresh claim");

    tokio::task::block_in_place(|| node_a.kill());
    let killed = Instant::now();
    on_a.abort();
    // Nothing of A's is held: no lock of any other session, no transaction left open.
    let held = "SELECT l.locktype || ' ' || l.mode || ' ' || COALESCE(a.state, '')
                FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                WHERE l.pid <> pg_backend_pid() AND a.datname = current_database()";
    let mut locks: Vec<String> = Vec::new();
    for _ in 0..100 {
        locks = sql.query(held, &[]).await.unwrap().iter().map(|row| row.get(0)).collect();
        if locks.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(locks.is_empty(), "locks left held after the kill: {locks:?}");

    let (status, body) = read(node_b.base_url()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connection"]["authorization"]["access_token"], "new", "B refreshed it: {body}");
    let took = killed.elapsed();
    // A's claim lasts the token request's timeout and its slack (15 s) from when A took it.
    assert!(took < Duration::from_secs(20), "B refreshed it {took:?} after the kill");
    assert_eq!(provider.count("/crm/token"), 2, "one more token request, B's");

    let claims: i64 = sql.query_one("SELECT count(*) FROM refresh_claims", &[]).await.unwrap().get(0);
    assert_eq!(claims, 0, "no claim left");
    let (status, again) = read(node_b.base_url()).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["connection"]["authorization"]["status"], "active", "{again}");
    assert_eq!(again["connection"]["authorization"]["access_token"], "new");
    assert_eq!(provider.count("/crm/token"), 2, "a fresh token is read without the provider");
    node_b.shutdown().await;
}

/// The database goes down while a refresh waits for the provider, which then answers with a
/// rotated refresh token (retiring the stored one): the read answers 503, and once the database
/// is back the node saves the tokens it holds, so the connection keeps working with the new
/// refresh token instead of being left with a retired one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_a_provider_issued_during_a_database_outage_are_saved_once_it_is_back() {
    let (release, released) = std::sync::mpsc::channel::<()>();
    let released = std::sync::Mutex::new(released);
    let provider = HostileServer::start(move |_| {
        // Held until the test has stopped the database (bounded: the test's own deadline).
        let _ = released.lock().unwrap().recv_timeout(Duration::from_secs(30));
        let rotated =
            r#"{"access_token": "new", "refresh_token": "rotated", "token_type": "Bearer", "expires_in": 3600}"#;
        Answer::Json(200, rotated.into())
    });
    let cluster = tokio::task::spawn_blocking(PrivateCluster::start).await.unwrap().expect("a private cluster");
    let (_seed_dir, seed_path) = Nodes::seed_file(&seed(&provider.url, &["crm"], "now-1m", "now-2h"));
    let nodes =
        Arc::new(Nodes::start(&cluster.url(), |config| ServerConfig { seed: Some(seed_path.clone()), ..config }).await);
    let reader = nodes.clone();
    let read_on_a = tokio::spawn(async move { reader.get(0, "/contexts/u1/connections/crm").await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider.count("/crm/token") == 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(provider.count("/crm/token"), 1, "A's refresh is at the provider");

    tokio::task::block_in_place(|| cluster.stop()).expect("the database stops");
    release.send(()).unwrap();
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_on_a).await.expect("answered").unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    tokio::task::block_in_place(|| cluster.start_server()).expect("the database starts again");

    let sql = async || -> Option<String> {
        let (client, connection) = tokio_postgres::connect(&nodes.database, tokio_postgres::NoTls).await.ok()?;
        tokio::spawn(connection);
        let row = client.query_one("SELECT refresh_token FROM authorizations", &[]).await.ok()?;
        row.get(0)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stored = None;
    while Instant::now() < deadline {
        stored = sql().await;
        if stored.as_deref() == Some("rotated") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored.as_deref(), Some("rotated"), "the rotated refresh token is saved once the database is back");
    let (status, body) = nodes.get(1, "/contexts/u1/connections/crm").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["connection"]["authorization"]["access_token"], "new", "{body}");
    assert_eq!(provider.count("/crm/token"), 1, "no second token request");
}
