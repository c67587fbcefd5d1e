//! Issue 14, item 2: the platform moved from SQLite into PostgreSQL with the real binary
//! (`migrate --from-sqlite`), then served from PostgreSQL; the data-directory commands on a
//! database (`--database`); and two nodes starting at once on an empty database with `--demo`.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use xkit_dash::server::{ServerConfig, start};

use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::postgres::{fresh_database, sql_client};
use crate::support::server::{ServeProcess, send};

/// A platform served by a child process, with the keys `keys create` printed.
struct Served {
    server: ServeProcess,
    publishable_key: String,
    secret_key: String,
    http: reqwest::Client,
}

impl Served {
    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/api/platform{path}", self.server.base_url))
            .basic_auth(&self.publishable_key, Some(&self.secret_key))
    }

    async fn get(&self, path: &str) -> Value {
        let (status, body) = send(self.request(Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// What must read the same before and after the move.
    async fn observed(&self) -> Vec<Value> {
        let mut seen = Vec::new();
        for path in ["/contexts?limit=1000", "/connections?limit=1000", "/stats", "/events?limit=1000", "/webhooks"] {
            seen.push(self.get(path).await);
        }
        seen
    }
}

/// `keys create --json` on the platform that `flags` name.
fn create_keys(home: &Home, flags: &[&str]) -> (String, String) {
    let output = home.command(&["keys", "create", "--json"]).args(flags).output().unwrap();
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let pair: Value = serde_json::from_str(&stdout(&output)).unwrap();
    (pair["publishable_key"].as_str().unwrap().to_owned(), pair["secret_key"].as_str().unwrap().to_owned())
}

/// The demo platform (plus a webhook endpoint, a context and its events) moves intact: the
/// PostgreSQL node answers the same listings, totals and history, the keys and a context token
/// minted before the move still work, and a second copy into the same database is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_platform_moves_from_sqlite_to_postgres_intact() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    // No proactive refresh on either side: nothing may change but what the test does.
    let sqlite = ServeProcess::start(dir.path(), &["--demo", "--no-scheduler"]);
    let (publishable_key, secret_key) = create_keys(&home, &["--data-dir", &data_dir]);
    let before = Served { server: sqlite, publishable_key, secret_key, http: reqwest::Client::new() };
    let (status, body) =
        send(before.request(Method::POST, "/webhooks").json(&json!({"url": "http://127.0.0.1:9/hook"}))).await;
    assert!(status.is_success(), "{body}");
    let (status, created) = send(
        before
            .request(Method::POST, "/context")
            .json(&json!({"context": {"external_id": "moved", "external_name": "M"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let token = created["access_token"].as_str().unwrap().to_owned();
    let observed_before = before.observed().await;
    let Served { server, publishable_key, secret_key, http } = before;
    server.kill();

    // Trust authentication ignores the password: it is there to be kept out of every output.
    let mut database = url::Url::parse(&fresh_database().await).unwrap();
    database.set_password(Some("s3cret-pw")).unwrap();
    let database = database.to_string();
    let copy = |json: bool| {
        let mut command = home.command(&["migrate", "--from-sqlite", &data_dir, "--database", &database]);
        if json {
            command.arg("--json");
        }
        command.output().unwrap()
    };
    let output = copy(true);
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["signing_key"], true, "{report}");
    let copied = |table: &str| {
        report["tables"].as_array().unwrap().iter().find(|row| row["table"] == table).unwrap()["rows"].as_u64().unwrap()
    };
    let contexts = observed_before[0]["contexts"].as_array().unwrap().len() as u64;
    assert_eq!(copied("contexts"), contexts, "{report}");
    assert_eq!(copied("events"), observed_before[3]["events"].as_array().unwrap().len() as u64, "{report}");
    assert_eq!((copied("webhook_endpoints"), copied("api_keys")), (1, 1), "{report}");
    assert!(!stdout(&output).contains("s3cret-pw") && !stderr(&output).contains("s3cret-pw"), "{report}");

    let node_dir = tempfile::tempdir().unwrap();
    let postgres = ServeProcess::start(node_dir.path(), &["--database", &database, "--no-scheduler"]);
    let after = Served { server: postgres, publishable_key, secret_key, http };
    assert_eq!(after.observed().await, observed_before, "the same platform answers from PostgreSQL");
    let session = after.http.get(format!("{}/api/platform_user/session", after.server.base_url)).bearer_auth(&token);
    let (status, body) = send(session).await;
    assert_eq!(status, StatusCode::OK, "a context token minted on SQLite is valid after the move: {body}");
    assert_eq!(body["context"]["external_id"], "moved", "{body}");
    // New rows get new ids: the identities were moved past the copied ones.
    let (status, body) =
        send(after.request(Method::POST, "/context").json(&json!({"context": {"external_id": "new"}}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let output = copy(false);
    assert_eq!(exit_code(&output), 3, "a second copy is refused: {}", stderr(&output));
    assert!(stderr(&output).contains("already holds a platform"), "{}", stderr(&output));
    let client = sql_client(&database).await;
    let now: i64 = client.query_one("SELECT COUNT(*) FROM contexts", &[]).await.unwrap().get(0);
    assert_eq!(now as u64, contexts + 1, "nothing written by the refused copy");
    assert!(!stderr(&output).contains("s3cret-pw"));
    assert!(!after.server.stderr().contains("s3cret-pw"), "the node logs the database URL redacted");
}

/// `keys`, `origins` and `migrate --status` on a database; `--data-dir` with `--database` is
/// refused, naming both.
#[tokio::test]
async fn the_data_directory_commands_take_a_database() {
    let home = Home::new();
    let database = fresh_database().await;
    let run = |args: &[&str]| home.command(args).args(["--database", &database]).output().unwrap();

    let output = run(&["migrate", "--status", "--json"]);
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let status: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(status["version"], 0, "an empty database: {status}");
    let output = run(&["migrate"]);
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let output = run(&["migrate", "--status", "--json"]);
    let status: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(status["pending"], json!([]), "{status}");
    assert_eq!(status["version"], status["latest"], "{status}");

    let (publishable_key, secret_key) = create_keys(&home, &["--database", &database]);
    let output = run(&["keys", "list", "--json"]);
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains(&publishable_key));
    assert!(!stdout(&output).contains(&secret_key), "never a secret");
    let output = run(&["origins", "add", "https://app.example"]);
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&run(&["origins", "list"])).trim(), "https://app.example");
    let output = run(&["keys", "revoke", &publishable_key]);
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&run(&["keys", "list", "--json"])).trim(), "");

    let output = run(&["keys", "list", "--data-dir", home.dir.path().to_str().unwrap()]);
    assert_eq!(exit_code(&output), 3, "{}", stderr(&output));
    assert!(stderr(&output).contains("--data-dir") && stderr(&output).contains("--database"), "{}", stderr(&output));
}

/// Two nodes started at once with `--demo` on one empty database both start, and the demo is
/// imported once: the database ends as one node alone leaves it (same rows, same events).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_starting_at_once_on_an_empty_database_seed_it_once() {
    let node = |dir: &std::path::Path, database: &str| ServerConfig {
        demo: true,
        database: Some(secrecy::SecretString::from(database.to_owned())),
        ..ServerConfig::new(dir)
    };
    let (first_dir, second_dir, alone_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (shared, single) = (fresh_database().await, fresh_database().await);
    let both = tokio::time::timeout(Duration::from_secs(60), async {
        tokio::join!(start(node(first_dir.path(), &shared)), start(node(second_dir.path(), &shared)))
    });
    let (first, second) = both.await.expect("both nodes start within 60 s");
    let (first, second) = (first.expect("the first node starts"), second.expect("the second node starts"));
    let alone = start(node(alone_dir.path(), &single)).await.expect("a node alone starts");
    let counts = async |url: &str| {
        let client = sql_client(url).await;
        let mut counts = Vec::new();
        for table in ["contexts", "connections", "authorizations", "sandbox_grants", "events"] {
            let count: i64 = client.query_one(&format!("SELECT COUNT(*) FROM {table}"), &[]).await.unwrap().get(0);
            counts.push((table, count));
        }
        counts
    };
    let seeded_once = counts(&single).await;
    assert!(seeded_once[0].1 > 0, "the demo was imported: {seeded_once:?}");
    assert_eq!(counts(&shared).await, seeded_once, "two nodes at once seed as one alone does");
    for server in [first, second, alone] {
        server.shutdown().await;
    }
}

/// The copy streams the rows table by table; a value with no place in PostgreSQL late in the
/// source (an event's time, after 3,000 connections went over in chunks) stops it, names the
/// column, and leaves the database as it was.
#[tokio::test]
async fn a_bad_value_late_in_the_source_rolls_the_whole_copy_back() {
    let home = Home::new();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap().to_owned();
    ServeProcess::start(dir.path(), &["--demo-scale", "3000", "--no-scheduler"]).kill();
    let sqlite = rusqlite::Connection::open(dir.path().join("platform.sqlite3")).unwrap();
    let broken = sqlite
        .execute("UPDATE events SET occurred_at = 'yesterday' WHERE seq = (SELECT MAX(seq) FROM events)", [])
        .unwrap();
    assert_eq!(broken, 1, "the seeded platform has events");
    drop(sqlite);

    let database = fresh_database().await;
    let output = home.command(&["migrate", "--from-sqlite", &data_dir, "--database", &database]).output().unwrap();
    assert_ne!(exit_code(&output), 0, "{}", stdout(&output));
    assert!(stderr(&output).contains("events.occurred_at"), "{}", stderr(&output));
    let client = sql_client(&database).await;
    let connections: i64 = client.query_one("SELECT COUNT(*) FROM connections", &[]).await.unwrap().get(0);
    assert_eq!(connections, 0, "the connections copied before the bad value were rolled back");
    let triggers_off: i64 = client
        .query_one("SELECT COUNT(*) FROM pg_trigger WHERE NOT tgisinternal AND tgenabled = 'D'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(triggers_off, 0, "the triggers are on again");
}
