//! The bundled server across its life: persistence over restarts, concurrent writers, seeding
//! (demo and seed files), key storage on disk, the embedded platform and `keys create`.

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use crate::support::server::{ServeProcess, TestPlatform, assert_error, send};
use reqwest::StatusCode;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use xkit_dash::server::{ServerConfig, database_path, start, start_embedded};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn contexts_and_keys_survive_a_restart() {
    let platform = TestPlatform::empty().await;
    let (status, _) =
        platform.create_context(json!({"external_id": "persisted", "external_name": "Kept", "tier": 3})).await;
    assert_eq!(status, StatusCode::OK);
    let platform = platform.restart().await;
    let (status, body) = platform.get("/contexts/persisted").await;
    assert_eq!(status, StatusCode::OK, "the same key pair still works after a restart: {body}");
    assert_eq!(body["context"], json!({"external_id": "persisted", "external_name": "Kept", "tier": 3}));
}

#[tokio::test]
async fn parallel_upserts_of_one_context_leave_exactly_one() {
    let platform = TestPlatform::empty().await;
    let upserts = (0..40).map(|index| {
        platform.create_context(json!({"external_id": "contended", "external_name": format!("writer {index}"), format!("attr_{index}"): index}))
    });
    let results = futures::future::join_all(upserts).await;
    assert!(results.iter().all(|(status, _)| *status == StatusCode::OK));
    let contexts = platform.all_pages("/contexts", "contexts", 100).await;
    assert_eq!(contexts.len(), 1, "exactly one context: {contexts:?}");
    let attributes = contexts[0].as_object().unwrap().keys().filter(|key| key.starts_with("attr_")).count();
    assert_eq!(attributes, 40, "every writer's attribute was merged, none lost");
}

#[tokio::test]
async fn the_demo_seeds_once() {
    let platform = TestPlatform::demo().await;
    let contexts = platform.all_pages("/contexts", "contexts", 1000).await.len();
    let connections = platform.all_pages("/connections", "connections", 1000).await.len();
    assert!(contexts >= 60 && connections >= 300);
    platform.create_context(json!({"external_id": "added-later"})).await;

    let TestPlatform { server, dir, keys, http, .. } = platform;
    server.shutdown().await;
    let server = start(ServerConfig { demo: true, ..ServerConfig::new(dir.path()) }).await.unwrap();
    let platform = TestPlatform { server, dir, database: None, keys, http, second: None };
    assert_eq!(platform.all_pages("/contexts", "contexts", 1000).await.len(), contexts + 1, "nothing duplicated");
    assert_eq!(platform.all_pages("/connections", "connections", 1000).await.len(), connections);
}

#[tokio::test]
async fn a_seed_file_loads_idempotently_and_a_bad_one_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    std::fs::write(
        &seed,
        json!({
            "platform": {"name": "Self Hosted", "slug": "self-hosted"},
            "connectors": [{"slug": "gitlab", "name": "GitLab", "short_description": "Repositories",
                "oauth": {"authorize_url": "https://gitlab.example/oauth/authorize", "token_url": "https://gitlab.example/oauth/token",
                          "client_id": "cid", "client_secret": "gitlab-client-secret", "scopes": ["api", "read_user"]}}],
            "contexts": [{"external_id": "team-1", "external_name": "Team One"}],
            "connections": [{"id": "conn-1", "context": "team-1", "connector": "gitlab",
                "authorization": {"status": "active", "access_token": "gl-token", "expires_at": "now+2h"}}]
        })
        .to_string(),
    )
    .unwrap();
    let data = dir.path().join("data");
    let config = || ServerConfig { seed: Some(seed.clone()), ..ServerConfig::new(&data) };
    let server = start(config()).await.unwrap();
    server.shutdown().await;
    let server = start(config()).await.unwrap();
    let keys = xkit_dash::server::create_key_pair(&data).unwrap();
    let platform = TestPlatform {
        server,
        dir: tempfile::tempdir().unwrap(),
        database: None,
        keys,
        http: reqwest::Client::new(),
        second: None,
    };
    let (_, body) = platform.get("/contexts/team-1/connections/gitlab").await;
    assert_eq!(body["connection"]["authorization"]["credential"], "gl-token");
    assert_eq!(platform.all_pages("/connections", "connections", 100).await.len(), 1, "loading twice adds nothing");
    let (_, public) = send(platform.http.get(platform.url("/api/platform_user/platform"))).await;
    assert_eq!(public["platform"]["slug"], "self-hosted");

    // A broken seed names every problem and changes nothing.
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({
            "connectors": [{"slug": "Bad Slug", "name": "x"}],
            "contexts": [{"external_id": "team-2"}],
            "connections": [{"id": "conn-2", "context": "team-2", "connector": "gitlub"}]
        })
        .to_string(),
    )
    .unwrap();
    let error = match start(ServerConfig { seed: Some(bad), ..ServerConfig::new(dir.path().join("other")) }).await {
        Ok(_) => panic!("a bad seed must not start"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("bad.json"), "{error}");
    assert!(error.contains("connectors[0].slug"), "{error}");
    assert!(error.contains("connections[0].connector: no connector \"gitlub\""), "{error}");
    let untouched = start(ServerConfig::new(dir.path().join("other"))).await.unwrap();
    let keys = xkit_dash::server::create_key_pair(&dir.path().join("other")).unwrap();
    let other = TestPlatform {
        server: untouched,
        dir: tempfile::tempdir().unwrap(),
        database: None,
        keys,
        http: reqwest::Client::new(),
        second: None,
    };
    let (_, contexts) = other.get("/contexts").await;
    assert_eq!(contexts["contexts"], json!([]), "nothing partial stored");
}

#[tokio::test]
async fn secrets_are_stored_hashed_and_secret_files_are_private() {
    let platform = TestPlatform::empty().await;
    let (status, _) = platform.get("/contexts").await;
    assert_eq!(status, StatusCode::OK);
    let database = database_path(platform.dir.path());
    let mut stored = std::fs::read(&database).unwrap();
    let wal = database.with_extension("sqlite3-wal");
    if wal.exists() {
        stored.extend(std::fs::read(&wal).unwrap());
    }
    let contains = |needle: &str| stored.windows(needle.len()).any(|window| window == needle.as_bytes());
    assert!(contains(&platform.keys.publishable_key), "the publishable key is on disk (the search works)");
    assert!(!contains(platform.keys.secret_key.expose_secret()), "the secret key is never stored in clear");

    let signing_key = platform.dir.path().join("context-token.key");
    assert_eq!(mode(&signing_key), 0o600);
    std::fs::set_permissions(&signing_key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let platform = platform.restart().await;
    assert_eq!(mode(&signing_key), 0o600, "a loosened key file is tightened at startup");
    assert_eq!(platform.get("/contexts").await.0, StatusCode::OK);
}

#[tokio::test]
async fn tokens_follow_the_configured_lifetime() {
    let platform = TestPlatform::with(|config| ServerConfig { token_ttl: Duration::from_secs(1800), ..config }).await;
    let (_, body) = platform.create_context(json!({"external_id": "short-lived"})).await;
    let payload = body["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 1800);
}

#[tokio::test]
async fn the_embedded_platform_remembers_its_keys() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_embedded(dir.path()).await.unwrap();
    assert!(first.server.addr.ip().is_loopback());
    let keys_file = dir.path().join("embedded-keys.json");
    assert_eq!(mode(&keys_file), 0o600);
    let client = xkit_dash::client::Client::new(&first.api_target(), &Default::default()).unwrap();
    let page = client.list_contexts(None, None, Some(1000)).await.unwrap();
    assert!(page.contexts.len() >= 60, "demo-seeded on first use");
    let publishable = first.publishable_key.clone();
    first.server.shutdown().await;

    let second = start_embedded(dir.path()).await.unwrap();
    assert_eq!(second.publishable_key, publishable, "the same pair is reused");
    let client = xkit_dash::client::Client::new(&second.api_target(), &Default::default()).unwrap();
    assert_eq!(client.list_contexts(None, None, Some(1000)).await.unwrap().contexts.len(), page.contexts.len());
    assert_eq!(client.platform().await.unwrap().slug, "northwind");
    second.server.shutdown().await;

    // A reset database with the key file kept: the remembered pair is registered again.
    std::fs::remove_file(database_path(dir.path())).unwrap();
    for suffix in ["sqlite3-wal", "sqlite3-shm"] {
        let _ = std::fs::remove_file(database_path(dir.path()).with_extension(suffix));
    }
    let third = start_embedded(dir.path()).await.unwrap();
    let client = xkit_dash::client::Client::new(&third.api_target(), &Default::default()).unwrap();
    assert!(client.list_contexts(None, None, Some(1)).await.is_ok());
}

#[tokio::test]
async fn keys_create_prints_a_working_pair_once() {
    let platform = TestPlatform::empty().await;
    let output = assert_cmd::Command::cargo_bin("xkit-dash")
        .unwrap()
        .args(["keys", "create", "--json", "--data-dir"])
        .arg(platform.dir.path())
        .env("XKIT_DASH_DATA_DIR", platform.dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let pair: Value = serde_json::from_slice(&output.stdout).unwrap();
    let (publishable, secret) = (pair["publishable_key"].as_str().unwrap(), pair["secret_key"].as_str().unwrap());
    let response = platform
        .http
        .get(platform.platform_url("/contexts"))
        .basic_auth(publishable, Some(secret))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "a key created while the server runs works at once");
}

/// Issue 9, item 8: in a data directory that already exists and that others may read, the
/// database and the WAL files SQLite creates later are 0600 whatever the umask, looser files
/// an older version left are tightened, and the start warns about the directory.
#[tokio::test]
async fn database_files_are_private_even_in_a_shared_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let database = database_path(dir.path());
    let companions = ["sqlite3-wal", "sqlite3-shm"].map(|extension| database.with_extension(extension));

    let server = ServeProcess::start(dir.path(), &["--demo"]);
    let stderr = server.stderr();
    assert!(stderr.contains("accessible to other users") && stderr.contains("mode 755"), "{stderr}");
    for path in std::iter::once(&database).chain(&companions) {
        assert!(path.exists(), "{} exists while the server runs", path.display());
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
    server.kill();

    for path in std::iter::once(&database).chain(&companions) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = start(ServerConfig::new(dir.path())).await.unwrap();
    for path in std::iter::once(&database).chain(&companions) {
        assert_eq!(mode(path), 0o600, "{} is tightened at start", path.display());
    }
    let keys = xkit_dash::server::create_key_pair(dir.path()).unwrap();
    let platform = TestPlatform { server, dir, database: None, keys, http: reqwest::Client::new(), second: None };
    assert!(platform.all_pages("/contexts", "contexts", 1000).await.len() >= 60, "the demo survived the kill -9");
}

/// Issue 9, item 16: a database emptied to 0 bytes next to the signing key of the platform it
/// held is refused (by the server and by `keys create`) instead of starting an empty platform.
#[tokio::test]
async fn an_emptied_database_beside_a_signing_key_is_refused() {
    let platform = TestPlatform::empty().await;
    platform.create_context(json!({"external_id": "precious"})).await;
    let TestPlatform { server, dir, .. } = platform;
    server.shutdown().await;
    let database = database_path(dir.path());
    std::fs::write(&database, b"").unwrap();
    for extension in ["sqlite3-wal", "sqlite3-shm"] {
        let _ = std::fs::remove_file(database.with_extension(extension));
    }

    let error = match start(ServerConfig::new(dir.path())).await {
        Ok(_) => panic!("an emptied database must not start as a new platform"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("0 bytes") && error.contains("context-token.key"), "{error}");
    assert!(error.contains("--data-dir") && error.contains("backup"), "the message says what to check: {error}");
    let error = format!("{:#}", xkit_dash::server::create_key_pair(dir.path()).unwrap_err());
    assert!(error.contains("0 bytes"), "{error}");
    assert_eq!(std::fs::metadata(&database).unwrap().len(), 0, "nothing was written into it");

    // Deleting the database is the deliberate way to start over.
    std::fs::remove_file(&database).unwrap();
    let server = start(ServerConfig::new(dir.path())).await.expect("a deleted database starts afresh");
    server.shutdown().await;
}

/// Issue 9, item 13: `keys list` shows every pair without its secret, with when it was created
/// and last used; `keys revoke`, run while the server runs, locks the pair out within a second
/// and leaves the others alone; an unknown key is an error.
#[tokio::test]
async fn keys_are_listed_without_secrets_and_a_revoked_key_is_refused_within_a_second() {
    let platform = TestPlatform::empty().await;
    let other = xkit_dash::server::create_key_pair(platform.dir.path()).unwrap();
    let keys = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("xkit-dash")
            .unwrap()
            .arg("keys")
            .args(args)
            .arg("--data-dir")
            .arg(platform.dir.path())
            .output()
            .unwrap()
    };
    assert_eq!(platform.get("/contexts").await.0, StatusCode::OK);

    // The last use is recorded off the request's path: give it a moment (bounded).
    let mut listed = Vec::new();
    for _ in 0..50 {
        let output = keys(&["list", "--json"]);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let text = String::from_utf8(output.stdout).unwrap();
        assert!(!text.contains(platform.keys.secret_key.expose_secret()), "no secret is listed");
        listed = text.lines().map(|line| serde_json::from_str::<Value>(line).unwrap()).collect();
        if listed.iter().any(|key| !key["last_used_at"].is_null()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(listed.len(), 2, "{listed:?}");
    let used = listed.iter().find(|key| key["publishable_key"] == platform.keys.publishable_key.as_str()).unwrap();
    assert!(used["created_at"].as_str().unwrap().ends_with('Z'), "{used}");
    assert!(used["last_used_at"].is_string(), "a used key says when: {used}");
    let unused = listed.iter().find(|key| key["publishable_key"] == other.publishable_key.as_str()).unwrap();
    assert!(unused["last_used_at"].is_null(), "{unused}");
    assert_eq!(unused.as_object().unwrap().len(), 3, "publishable key, created, last used; nothing else: {unused}");
    let table = String::from_utf8(keys(&["list"]).stdout).unwrap();
    assert!(
        table.contains("LAST USED") && table.contains(&other.publishable_key) && table.contains("never"),
        "{table}"
    );

    let unknown = keys(&["revoke", "xkpk_no_such_key"]);
    assert_eq!(unknown.status.code(), Some(2), "an unknown key is a refusal of the platform, like an unknown context");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("xkpk_no_such_key"));

    // The key was verified (and cached) just now; the revoke must beat the cache within 1 s.
    assert_eq!(platform.get("/contexts").await.0, StatusCode::OK);
    let cached_at = std::time::Instant::now();
    let revoked = keys(&["revoke", &platform.keys.publishable_key]);
    assert!(revoked.status.success(), "{}", String::from_utf8_lossy(&revoked.stderr));
    tokio::time::sleep(Duration::from_millis(1050).saturating_sub(cached_at.elapsed())).await;
    assert_error(&platform.get("/contexts").await, StatusCode::UNAUTHORIZED);
    let response = platform
        .http
        .get(platform.platform_url("/contexts"))
        .basic_auth(&other.publishable_key, Some(other.secret_key.expose_secret()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the other pair still works");
    let remaining = String::from_utf8(keys(&["list", "--json"]).stdout).unwrap();
    assert!(!remaining.contains(&platform.keys.publishable_key), "{remaining}");
}

/// Durability under the new transport: three rounds of `kill -9` in the middle of concurrent
/// writes lose no write the server acknowledged.
#[tokio::test]
async fn kill_9_under_write_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let keys = xkit_dash::server::create_key_pair(dir.path()).unwrap();
    let http = reqwest::Client::new();
    let mut acknowledged = Vec::new();
    for round in 0..3 {
        let server = ServeProcess::start(dir.path(), &[]);
        let writers = (0..8).map(|writer| {
            let (http, base, keys) = (http.clone(), server.base_url.clone(), keys.clone());
            tokio::spawn(async move {
                let mut written = Vec::new();
                for index in 0..500 {
                    let id = format!("r{round}-w{writer}-{index}");
                    let response = http
                        .post(format!("{base}/api/platform/context"))
                        .basic_auth(&keys.publishable_key, Some(keys.secret_key.expose_secret()))
                        .json(&json!({"context": {"external_id": id}}))
                        .send()
                        .await;
                    match response {
                        Ok(response) if response.status() == StatusCode::OK => written.push(id),
                        _ => break,
                    }
                }
                written
            })
        });
        let writers: Vec<_> = writers.collect();
        tokio::time::sleep(Duration::from_millis(400)).await;
        server.kill();
        for writer in writers {
            acknowledged.extend(writer.await.unwrap());
        }
    }
    assert!(acknowledged.len() > 24, "the writers got going: {}", acknowledged.len());
    let server = start(ServerConfig::new(dir.path())).await.unwrap();
    let platform = TestPlatform { server, dir, database: None, keys, http, second: None };
    let stored: std::collections::HashSet<String> = platform
        .all_pages("/contexts", "contexts", 1000)
        .await
        .iter()
        .map(|context| context["external_id"].as_str().unwrap().to_owned())
        .collect();
    let lost: Vec<_> = acknowledged.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(lost.is_empty(), "{} of {} acknowledged writes lost: {lost:?}", lost.len(), acknowledged.len());
}
