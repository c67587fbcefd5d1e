//! The bundled server under clients that hold connections without using them (issue 9, item
//! 7): header, body and idle timeouts, the connection cap with its fast 503, and 1,000 stalled
//! connections under a low open-files limit that do not keep a real request from an answer.

use std::time::{Duration, Instant};

use crate::support::server::{ServeProcess, TestPlatform, send};
use base64::Engine as _;
use reqwest::StatusCode;
use secrecy::ExposeSecret as _;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use xkit_dash::server::{ConnectionLimits, ServerConfig};

/// The start of a request whose header never ends.
const PARTIAL_HEADER: &[u8] = b"GET /api/platform_user/platform HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Reads until the server closes the connection (or `within` passes, which fails the test) and
/// returns what it sent.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> String {
    let mut received = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut received))
        .await
        .unwrap_or_else(|_| panic!("the server kept the connection open past {within:?}"))
        .ok();
    String::from_utf8_lossy(&received).into_owned()
}

/// The JSON error of a raw HTTP answer.
fn json_error(answer: &str) -> String {
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_else(|| panic!("no body in {answer:?}"));
    let body: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {answer:?}"));
    body["error"].as_str().unwrap_or_else(|| panic!("no error in {answer:?}")).to_owned()
}

fn limits(header: u64, body: u64, idle: u64, max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        header_timeout: Duration::from_millis(header),
        body_timeout: Duration::from_millis(body),
        idle_timeout: Duration::from_millis(idle),
        max_connections,
    }
}

async fn connect(platform: &TestPlatform) -> TcpStream {
    TcpStream::connect(platform.server.addr).await.unwrap()
}

/// A request whose header is complete and whose body never finishes: busy, not stalled.
async fn busy_connection(platform: &TestPlatform) -> TcpStream {
    let mut stream = connect(platform).await;
    let head = "POST /api/platform/context HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
                Content-Length: 1000\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test]
async fn a_half_sent_header_or_a_silent_connection_is_closed_after_the_header_timeout() {
    let platform =
        TestPlatform::with(|config| ServerConfig { limits: limits(400, 30_000, 60_000, 100), ..config }).await;
    let mut partial = connect(&platform).await;
    partial.write_all(PARTIAL_HEADER).await.unwrap();
    let mut silent = connect(&platform).await;
    let started = Instant::now();
    read_until_closed(&mut partial, Duration::from_secs(5)).await;
    read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "not before the timeout: {:?}", started.elapsed());

    // A keep-alive connection serves several requests, then is closed once it idles.
    let mut kept = connect(&platform).await;
    for _ in 0..2 {
        kept.write_all(b"GET /api/platform_user/platform HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        let mut answer = [0u8; 12];
        kept.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        let mut rest = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_millis(100), kept.read(&mut rest)).await;
    }
    read_until_closed(&mut kept, Duration::from_secs(5)).await;
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_a_closed_connection() {
    let platform =
        TestPlatform::with(|config| ServerConfig { limits: limits(10_000, 400, 60_000, 100), ..config }).await;
    let mut stream = busy_connection(&platform).await;
    let answer = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(json_error(&answer).contains("did not arrive"), "{answer}");

    // A huge announced body is refused at once, before a byte of it is read (with the keys, so
    // that the route gets as far as its body).
    let mut stream = connect(&platform).await;
    let credentials = format!("{}:{}", platform.keys.publishable_key, platform.keys.secret_key.expose_secret());
    let head = format!(
        "POST /api/platform/context HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic {}\r\n\
         Content-Type: application/json\r\nContent-Length: 99999999999\r\n\r\n{{",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(2)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(!json_error(&answer).is_empty());
}

#[tokio::test]
async fn a_connection_on_which_nothing_moves_is_closed_after_the_idle_timeout() {
    let platform =
        TestPlatform::with(|config| ServerConfig { limits: limits(30_000, 30_000, 400, 100), ..config }).await;
    let mut silent = connect(&platform).await;
    let started = Instant::now();
    read_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(started.elapsed() >= Duration::from_millis(300), "{:?}", started.elapsed());
}

#[tokio::test]
async fn beyond_the_cap_stalled_connections_make_room_and_busy_ones_get_a_fast_503() {
    let platform =
        TestPlatform::with(|config| ServerConfig { limits: limits(30_000, 3_000, 60_000, 3), ..config }).await;
    // A stalled connection holds a place only until someone needs it.
    let mut stalled = connect(&platform).await;
    stalled.write_all(PARTIAL_HEADER).await.unwrap();
    let mut busy = Vec::new();
    for _ in 0..3 {
        busy.push(busy_connection(&platform).await);
        // Let the server read each header before the next connection arrives.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    read_until_closed(&mut stalled, Duration::from_secs(2)).await;

    // Every place is taken by a request in progress: a fast 503, with a JSON error.
    let started = Instant::now();
    let mut refused = connect(&platform).await;
    let answer = read_until_closed(&mut refused, Duration::from_secs(1)).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(json_error(&answer).contains("too many open connections"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(1));

    // Once the busy ones end (here: their bodies time out), the server serves again.
    for mut stream in busy {
        let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let (status, _) = send(platform.http.get(platform.url("/api/platform_user/platform"))).await;
    assert_eq!(status, StatusCode::OK);
}

/// Open files the other tests of this process (one binary, tests in parallel threads) may hold
/// while this one floods a server: their servers, clients and pseudo-terminals.
const OPEN_FILES_OF_OTHER_TESTS: u64 = 4096;

/// Raises this process's soft open-files limit to hold `needed` sockets besides what the tests
/// running alongside hold, if the hard one allows. It only ever raises the limit, which every
/// test of the process shares.
fn allow_open_files(needed: u64) {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only access the struct given, which lives on this stack.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let wanted = needed + OPEN_FILES_OF_OTHER_TESTS;
        if limit.rlim_cur < wanted {
            limit.rlim_cur = wanted.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(limit.rlim_cur >= needed, "this test needs {needed} open files; the hard limit is {}", limit.rlim_max);
}

/// The audit's attack: under a low open-files limit, a flood of connections that never finish
/// their header used to exhaust the server's file descriptors ("Too many open files") and
/// starve every real request. Now they are capped below the limit, the oldest stalled one
/// makes room for each newcomer, and a real request is answered at once.
#[tokio::test]
async fn a_thousand_stalled_connections_do_not_keep_a_real_request_from_an_answer() {
    const STALLED: usize = 1000;
    allow_open_files(STALLED as u64 + 256);
    let dir = tempfile::tempdir().unwrap();
    // The server runs with 256 open files, as in the audit; it lowers its cap to fit.
    let mut command = std::process::Command::new("sh");
    command.arg("-c").arg("ulimit -n 256 && exec \"$0\" \"$@\"");
    let serve = ServeProcess::command(dir.path(), &["--header-timeout", "60s", "--idle-timeout", "60s"]);
    command.arg(serve.get_program()).args(serve.get_args());
    let server = ServeProcess::start_command(command);
    assert!(server.stderr().contains("open files limit is 256"), "{}", server.stderr());
    let addr = server.base_url.trim_start_matches("http://").to_owned();

    let mut stalled = Vec::with_capacity(STALLED);
    for _ in 0..STALLED {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        // Some are already displaced (closed) while the flood goes on: that is the point.
        let _ = stream.write_all(PARTIAL_HEADER).await;
        stalled.push(stream);
    }

    let http = reqwest::Client::new();
    let started = Instant::now();
    let answer = tokio::time::timeout(
        Duration::from_secs(1),
        http.get(format!("{}/api/platform_user/platform", server.base_url)).send(),
    )
    .await
    .expect("a real request is answered within a second while 1,000 connections stall")
    .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    assert!(body["platform"]["slug"].is_string(), "{body}");
    eprintln!("answered in {:?} with {STALLED} stalled connections", started.elapsed());
    assert!(!server.stderr().contains("Too many open files"), "{}", server.stderr());
    drop(stalled);
}
