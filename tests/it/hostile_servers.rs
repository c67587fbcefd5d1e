//! The CLI and the client against hostile or broken servers (issue 9): credentials never follow a
//! redirect to another origin, listings stop at their budgets, bodies at their cap, requests at
//! `--request-timeout`, `secret_command` at its timeout, and every failure of the target exits 2.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::cli::{Home, exit_code, stderr};
use crate::support::hostile::{Answer, HostileServer, connections_page};
use assert_cmd::Command;
use xkit_dash::client::{ApiTarget, Client, ClientError, ClientOptions};
use xkit_dash::scan::{self, ScanRequest};

const PUBLISHABLE: &str = "pk_hostile";
const SECRET: &str = "sk_never_leaves_home";
const MIB: u64 = 1024 * 1024;

fn run(mut command: Command) -> (Output, Duration) {
    let started = Instant::now();
    let output = command.output().unwrap();
    (output, started.elapsed())
}

fn client(url: &str) -> Client {
    let target = ApiTarget { api_url: url.into(), publishable_key: PUBLISHABLE.into(), secret_key: SECRET.into() };
    Client::new(&target, &ClientOptions::default()).unwrap()
}

#[test]
fn credentials_never_follow_a_redirect_to_another_origin() {
    let home = Home::new();
    // The second origin: a same-host hop, then a valid answer. It must never see the keys.
    let elsewhere = HostileServer::start(|seen| match seen.path() {
        "/hop" => Answer::Redirect(302, "/api/platform/connections".into()),
        _ => Answer::Json(200, connections_page(0, 1, None)),
    });
    let hop = format!("{}/hop", elsewhere.url);
    let configured = HostileServer::start(move |seen| match seen.path() {
        // No totals: `check` goes on to the listing, whose redirects this is about.
        "/api/platform/stats" => Answer::Json(404, r#"{"error":"not found"}"#.into()),
        "/api/platform/connections" => Answer::Redirect(307, "/moved/connections".into()),
        _ => Answer::Redirect(307, hop.clone()),
    });

    let (output, _) = run(home.pointed_at(&configured.url, PUBLISHABLE, SECRET, &["check"]));
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains(&format!("the server redirected to {}/hop; refusing to send keys there", elsewhere.url)),
        "{message}"
    );
    let leaked: Vec<_> = elsewhere.seen().into_iter().filter(|seen| seen.authorization.is_some()).collect();
    assert!(leaked.is_empty(), "the keys reached another origin: {leaked:?}");
    // The same-origin hop was followed, with the keys.
    assert!(configured.seen().iter().any(|seen| seen.path() == "/moved/connections" && seen.authorization.is_some()));

    // Redirects within the configured origin keep working.
    let moved = HostileServer::start(|seen| match seen.path() {
        "/api/platform/connections" => Answer::Redirect(308, "/v2/connections".into()),
        _ => Answer::Json(200, r#"{"connections":[],"next_cursor":null}"#.into()),
    });
    let (output, _) = run(home.pointed_at(&moved.url, PUBLISHABLE, SECRET, &["check"]));
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
}

#[test]
fn an_endless_listing_stops_at_the_connection_budget_with_exit_2() {
    let home = Home::new();
    // 1,000 rows a page and a fresh cursor, forever (well, 200 pages: an unbounded client then
    // holds 200,000 rows and the test fails instead of eating the machine).
    let server = HostileServer::start(|seen| match seen.path() {
        "/api/platform/connections" => {
            let page: usize = seen.query("cursor").and_then(|cursor| cursor.parse().ok()).unwrap_or(0);
            let next = (page < 200).then(|| (page + 1).to_string());
            Answer::Json(200, connections_page(page * 1000, 1000, next.as_deref()))
        }
        _ => Answer::Json(404, r#"{"error":"not found"}"#.into()),
    });
    let pages = || server.count("/api/platform/connections");

    // The default budget: 100,000 connections.
    let (output, _) = run(home.pointed_at(&server.url, PUBLISHABLE, SECRET, &["check", "--json"]));
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(&format!("{}/api/platform has more than 100000 connections", server.url)), "{message}");
    assert!(message.contains("--max-connections") && message.contains("max_connections"), "{message}");
    assert!(output.stdout.is_empty(), "no report from a scan that did not finish");
    assert!(pages() <= 101, "{} pages requested", pages());

    // The flag, and the profile key, set it.
    let before = pages();
    let (output, _) =
        run(home.pointed_at(&server.url, PUBLISHABLE, SECRET, &["connections", "--json", "--max-connections", "2500"]));
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("more than 2500 connections"), "{}", stderr(&output));
    assert!(pages() - before <= 3, "{} pages requested", pages() - before);

    let config = home.dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    let profile = format!(
        "default_profile = \"p\"\n[profiles.p]\napi_url = \"{}\"\npublishable_key = \"pk\"\nmax_connections = 4000\n",
        server.url
    );
    std::fs::write(config.join("config.toml"), profile).unwrap();
    let before = pages();
    let mut command = home.pointed_at(&server.url, PUBLISHABLE, SECRET, &["check"]);
    command.env_remove("XKIT_API_URL");
    let (output, _) = run(command);
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("more than 4000 connections"), "{}", stderr(&output));
    assert!(pages() - before <= 5, "{} pages requested", pages() - before);
}

#[test]
fn a_repeated_cursor_ends_every_listing_with_exit_2_naming_the_server() {
    let home = Home::new();
    let server = HostileServer::start(|seen| match seen.path() {
        "/api/platform/connections" => Answer::Json(200, connections_page(0, 10, Some("again"))),
        "/api/platform/contexts" => {
            Answer::Json(200, r#"{"contexts":[{"external_id":"a"}],"next_cursor":"again"}"#.into())
        }
        _ => Answer::Json(200, r#"{"connectors":[{"slug":"s","name":"S"}],"next_cursor":"again"}"#.into()),
    });
    for command in ["check", "contexts", "connectors"] {
        let (output, _) = run(home.pointed_at(&server.url, PUBLISHABLE, SECRET, &[command]));
        assert_eq!(exit_code(&output), 2, "{command}: {}", stderr(&output));
        let expected = format!("the server at {}/api/platform handed out the same page cursor twice", server.url);
        assert!(stderr(&output).contains(&expected), "{command}: {}", stderr(&output));
    }
    // Two pages per listing, and `check`'s GET /stats (answered with no totals in it).
    assert_eq!(server.seen().len(), 7, "two pages per listing: {:?}", server.seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_body_is_capped_including_the_platform_record() {
    // Chunked and endless (up to 256 MiB, so an unbounded client fails the test, not the box).
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let chunked = HostileServer::start(move |_| Answer::Endless {
        claimed_length: None,
        total: 256 * MIB,
        written: counter.clone(),
    });
    let error = client(&chunked.url).platform().await.unwrap_err();
    assert!(
        matches!(&error, ClientError::InvalidResponse(message) if message.contains("/api/platform_user/platform is larger than 64 MiB")),
        "{error}"
    );
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 96 * MIB, "the client read {} MiB", sent / MIB);

    // A Content-Length of 1 GiB is refused before reading; the API routes share the reader.
    let written = Arc::new(AtomicU64::new(0));
    let counter = written.clone();
    let claiming = HostileServer::start(move |_| Answer::Endless {
        claimed_length: Some(1024 * MIB),
        total: 256 * MIB,
        written: counter.clone(),
    });
    let error = client(&claiming.url).platform().await.unwrap_err();
    assert!(error.to_string().contains("larger than 64 MiB"), "{error}");
    let error = client(&claiming.url).list_connectors(None, None).await.unwrap_err();
    assert!(error.to_string().contains("/api/platform/connectors is larger than 64 MiB"), "{error}");
    // What the socket buffers took before the client hung up, far below the claim.
    let sent = written.load(Ordering::SeqCst);
    assert!(sent < 32 * MIB, "the client read {} MiB", sent / MIB);
}

#[test]
fn request_timeout_bounds_every_command_against_a_hanging_server() {
    let home = Home::new();
    let server = HostileServer::start(|_| Answer::Hang);
    // Before the command (as the dashboard takes it) or after it: one global flag.
    let runs: [&[&str]; 3] = [
        &["--request-timeout", "1s", "check"],
        &["contexts", "--request-timeout", "1s"],
        &["token", "mint", "--external-id", "acme", "--request-timeout", "1s"],
    ];
    for args in runs {
        let (output, took) = run(home.pointed_at(&server.url, PUBLISHABLE, SECRET, args));
        assert_eq!(exit_code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(stderr(&output).contains("request timed out"), "{args:?}: {}", stderr(&output));
        // Reads: 3 tries of 1 s and 1.2 s of back-off; the mint (a POST) is tried once.
        assert!(took < Duration::from_secs(10), "{args:?} took {took:?}");
    }
    let output = Command::cargo_bin("xkit-dash").unwrap().args(["check", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout).split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        help.contains("--request-timeout") && help.contains("one read takes at most 3 x DURATION + 10 s"),
        "{help}"
    );
}

#[test]
fn a_hanging_secret_command_is_killed_at_its_timeout() {
    let home = Home::new();
    let pid_file = home.dir.path().join("secret-command.pid");
    let config = home.dir.path().join("config");
    std::fs::create_dir_all(&config).unwrap();
    // Prints something secret-looking, then hangs like a password manager waiting for a prompt.
    let command = format!("sh -c 'echo $$ > {}; echo sk_half_printed; exec sleep 120'", pid_file.display());
    let profile = format!(
        "default_profile = \"vault\"\n[profiles.vault]\napi_url = \"http://127.0.0.1:9\"\npublishable_key = \"pk\"\n\
         secret_command = \"{}\"\nsecret_command_timeout = \"1s\"\n",
        command.replace('\\', "\\\\").replace('"', "\\\"")
    );
    std::fs::write(config.join("config.toml"), profile).unwrap();

    let mut command = home.pointed_at("", PUBLISHABLE, SECRET, &["check"]);
    command.env_remove("XKIT_API_URL").env_remove("XKIT_SECRET_KEY");
    let (output, took) = run(command);
    assert_eq!(exit_code(&output), 3, "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains(r#"profile "vault": secret_command "sh" did not finish within 1s"#), "{message}");
    assert!(message.contains("secret_command_timeout"), "{message}");
    assert!(!message.contains("sk_half_printed") && output.stdout.is_empty(), "{message}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    // The child was killed, not left sleeping.
    let pid = std::fs::read_to_string(&pid_file).unwrap().trim().to_owned();
    let started = Instant::now();
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let alive = state.lines().any(|line| line.starts_with("State:") && !line.contains("zombie"));
        if !alive {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "secret_command {pid} still runs:\n{state}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn errors_of_the_target_exit_2_and_only_unhealthy_connections_exit_1() {
    let home = Home::new();
    let answers: [(u16, &str); 4] = [
        (200, r#"{"error":"platform suspended"}"#),
        (400, r#"{"error":"bad cursor"}"#),
        (401, r#"{"error":"invalid keys"}"#),
        (422, r#"{"error":"unprocessable"}"#),
    ];
    for (status, body) in answers {
        let server = HostileServer::start(move |_| Answer::Json(status, body.into()));
        for args in [&["check"][..], &["contexts"], &["connection", "acme", "slack"]] {
            let (output, _) = run(home.pointed_at(&server.url, PUBLISHABLE, SECRET, args));
            assert_eq!(exit_code(&output), 2, "{status} {args:?}: {}", stderr(&output));
            let body: serde_json::Value = serde_json::from_str(body).unwrap();
            assert!(
                stderr(&output).contains(body["error"].as_str().unwrap()),
                "{status} {args:?}: {}",
                stderr(&output)
            );
        }
    }
    // Exit 1 stays check's verdict on the connections themselves.
    let unhealthy = HostileServer::start(|_| Answer::Json(200, connections_page(0, 3, None)));
    let (output, _) = run(home.pointed_at(&unhealthy.url, PUBLISHABLE, SECRET, &["check"]));
    assert_eq!(exit_code(&output), 1, "{}", stderr(&output));
    let output = Command::cargo_bin("xkit-dash").unwrap().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("1  `check` found connections needing attention (the only cause of exit 1)"), "{help}");
}

#[test]
fn check_lists_the_worst_thousand_and_counts_the_rest() {
    let home = Home::new();
    // 2,500 connections in error over three pages.
    let server = HostileServer::start(|seen| {
        let page: usize = seen.query("cursor").and_then(|cursor| cursor.parse().ok()).unwrap_or(0);
        let next = (page < 2).then(|| (page + 1).to_string());
        let rows = if page < 2 { 1000 } else { 500 };
        Answer::Json(200, connections_page(page * 1000, rows, next.as_deref()))
    });
    let (output, _) = run(home.pointed_at(&server.url, PUBLISHABLE, SECRET, &["check", "--json"]));
    assert_eq!(exit_code(&output), 1, "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["scanned"].as_u64(), report["contexts"].as_u64()), (Some(2500), Some(2500)));
    assert_eq!(report["unhealthy_total"], 2500);
    let listed = report["unhealthy"].as_array().unwrap();
    assert_eq!(listed.len(), 1000);
    // Worst first, then by context: x0, x1, x10, x100, ... (text order).
    let contexts: Vec<&str> = listed.iter().take(3).map(|row| row["context"].as_str().unwrap()).collect();
    assert_eq!(contexts, ["x0", "x1", "x10"]);

    let (output, _) = run(home.pointed_at(&server.url, PUBLISHABLE, SECRET, &["check"]));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("2500 connections need attention:"), "{text}");
    assert!(text.contains("... and 1500 more (the worst 1000 are listed"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_context_fan_out_shares_one_budget() {
    // No bulk route; three contexts whose connection listings never end.
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let server = HostileServer::start(move |seen| match seen.path() {
        "/api/platform/connections" => Answer::Json(404, r#"{"error":"not found"}"#.into()),
        "/api/platform/contexts" => Answer::Json(
            200,
            r#"{"contexts":[{"external_id":"a"},{"external_id":"b"},{"external_id":"c"}],"next_cursor":null}"#.into(),
        ),
        _ => {
            let page = counter.fetch_add(1, Ordering::SeqCst);
            let next = (page < 300).then(|| format!("p{page}"));
            Answer::Json(200, connections_page(page * 1000, 1000, next.as_deref()))
        }
    });
    let request = ScanRequest { max_connections: 5000, ..ScanRequest::default() };
    let error = scan::collect(client(&server.url), request).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::LimitReached(message) if message.contains("more than 5000 connections")),
        "{error}"
    );
    // Three listings at once, one budget: a page or so each past it, not 5,000 rows each.
    let pages = served.load(Ordering::SeqCst);
    assert!(pages <= 9, "{pages} per-context pages served");
}
