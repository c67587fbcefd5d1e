//! The headless CLI as cron, CI and on-call use it: the real `xkit-dash` binary against the real
//! bundled server on 127.0.0.1, with temporary config, data and state directories.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::cli::{Home, exit_code, stderr, stdout};
use crate::support::jwt_claims;
use crate::support::proxy::XkitWithoutExtensions;
use crate::support::server::TestPlatform;
use assert_cmd::Command;
use serde_json::{Value, json};

/// The seeded access token of the healthy Slack connection: must never be printed unasked.
const ACME_SLACK_TOKEN: &str = "xoxb-acme-very-secret-token";

/// A platform where every connection is fine (active, pending or disabled).
fn healthy_seed() -> Value {
    json!({
        "platform": {"name": "Test Co", "slug": "testco"},
        "connectors": [
            {"slug": "slack", "name": "Slack"},
            {"slug": "github", "name": "GitHub"},
            {"slug": "salesforce", "name": "Salesforce"}
        ],
        "contexts": [
            {"external_id": "acme", "external_name": "Acme Inc.", "plan": "pro"},
            {"external_id": "globex", "external_name": "Globex"},
            {"external_id": "initech"}
        ],
        "connections": [
            {"id": "c-acme-slack", "context": "acme", "connector": "slack",
             "authorization": {"status": "active", "access_token": ACME_SLACK_TOKEN, "expires_at": "now+2h"}},
            {"id": "c-acme-github", "context": "acme", "connector": "github",
             "authorization": {"status": "active", "access_token": "gho-acme", "expires_at": "now+30d"}},
            {"id": "c-globex-github", "context": "globex", "connector": "github",
             "authorization": {"status": "awaiting_callback"}},
            {"id": "c-initech-salesforce", "context": "initech", "connector": "salesforce", "enabled": false,
             "authorization": {"status": "error", "error_code": "invalid_grant"}}
        ]
    })
}

/// The healthy platform plus two connections needing attention.
fn unhealthy_seed() -> Value {
    let mut seed = healthy_seed();
    let connections = seed["connections"].as_array_mut().unwrap();
    connections.push(json!({"id": "c-globex-slack", "context": "globex", "connector": "slack",
        "authorization": {"status": "error", "error_code": "invalid_grant", "error_message": "Token revoked by admin"}}));
    connections.push(json!({"id": "c-initech-github", "context": "initech", "connector": "github",
        "authorization": {"status": "suspended_by_provider"}}));
    seed
}

/// Runs the binary off the async runtime, so the in-process server keeps answering.
async fn run(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

fn assert_never_shown(output: &Output, secrets: &[&str]) {
    for secret in secrets {
        assert!(!stdout(output).contains(secret), "stdout shows a secret: {}", stdout(output));
        assert!(!stderr(output).contains(secret), "stderr shows a secret: {}", stderr(output));
    }
}

fn json_lines(output: &Output) -> Vec<Value> {
    stdout(output).lines().map(|line| serde_json::from_str(line).expect("one JSON object per line")).collect()
}

/// A loopback port nobody listens on.
fn unused_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_exit_code_tells_cron_whether_to_page() {
    let home = Home::new();
    let healthy = TestPlatform::seeded(&healthy_seed().to_string()).await;
    let output = run(home.against(&healthy, &["check"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("Scanned 4 connections in 3 contexts"), "{text}");
    assert!(text.contains("OK: no connection needs attention"), "{text}");
    assert_eq!(stderr(&output), "", "no progress bar or noise when stderr is not a terminal");

    let unhealthy = TestPlatform::seeded(&unhealthy_seed().to_string()).await;
    let output = run(home.against(&unhealthy, &["check"])).await;
    assert_eq!(exit_code(&output), 1);
    let text = stdout(&output);
    assert!(text.contains("2 connections need attention"), "{text}");
    assert!(text.contains("Token revoked by admin") && text.contains("invalid_grant"), "{text}");
    assert!(text.contains("✗ error") && text.contains("? unknown"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour when stdout is not a terminal");

    // The JSON report's documented shape.
    let output = run(home.against(&unhealthy, &["check", "--json"])).await;
    assert_eq!(exit_code(&output), 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["healthy"], false);
    assert_eq!(report["scanned"], 6);
    assert_eq!(report["contexts"], 3);
    assert_eq!(report["target"], format!("{}/api/platform", unhealthy.server.base_url()));
    assert_eq!(report["totals"], json!({"active": 2, "pending": 1, "unknown": 1, "error": 1, "disabled": 1}));
    assert_eq!(report["summary"]["slack"], json!({"active": 1, "pending": 0, "unknown": 0, "error": 1, "disabled": 0}));
    let unhealthy_rows = report["unhealthy"].as_array().unwrap();
    assert_eq!(unhealthy_rows.len(), 2);
    let revoked = &unhealthy_rows[0];
    assert_eq!(revoked["context"], "globex");
    assert_eq!(revoked["context_name"], "Globex");
    assert_eq!(revoked["connector"], "slack");
    assert_eq!(revoked["health"], "error");
    assert_eq!(revoked["error_code"], "invalid_grant");
    assert_eq!(revoked["connection_id"], "c-globex-slack");
    // No catalog_url configured: Xkit's hosted catalog, derived from the platform slug.
    assert_eq!(revoked["repair_url"], "https://testco.xkit.co/connectors/slack");
    assert_eq!(unhealthy_rows[1]["health"], "unknown");
    assert_eq!(unhealthy_rows[1]["status"], "suspended_by_provider");

    // Filters: only the healthy connector, or only the healthy context, is a green run.
    let output = run(home.against(
        &unhealthy,
        &["check", "--connector", "salesforce", "--connector", "github", "--context", "acme", "--context", "globex"],
    ))
    .await;
    assert_eq!(exit_code(&output), 0, "{}", stdout(&output));
    let output = run(home.against(&unhealthy, &["check", "--context", "globex", "--json"])).await;
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((report["scanned"].as_u64(), report["unhealthy"].as_array().unwrap().len()), (Some(2), 1));

    // --expiring-within keeps what the server says expires in time; each one needs attention.
    let output = run(home.against(&healthy, &["check", "--expiring-within", "1d", "--json"])).await;
    assert_eq!(exit_code(&output), 1);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let expiring: Vec<&str> =
        report["unhealthy"].as_array().unwrap().iter().map(|row| row["connection_id"].as_str().unwrap()).collect();
    assert_eq!(expiring, ["c-acme-slack"]);
    let output = run(home.against(&healthy, &["check", "--expiring-within", "1h"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stdout(&output));

    assert_never_shown(&output, &[healthy.secret(), ACME_SLACK_TOKEN]);
    assert!(!home.log_text().contains(healthy.secret()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_targets_refused_keys_and_bad_usage_have_their_own_codes() {
    let home = Home::new();
    let platform = TestPlatform::seeded(&healthy_seed().to_string()).await;

    let mut down = home.command(&["check"]);
    down.env("XKIT_API_URL", format!("http://{}", unused_port()))
        .env("XKIT_PUBLISHABLE_KEY", "pk_test")
        .env("XKIT_SECRET_KEY", "sk_never_printed");
    let output = run(down).await;
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("cannot reach the server"), "{}", stderr(&output));
    assert_never_shown(&output, &["sk_never_printed"]);

    let mut refused = home.against(&platform, &["check"]);
    refused.env("XKIT_SECRET_KEY", "sk_wrong_secret_value");
    let output = run(refused).await;
    assert_eq!(exit_code(&output), 2);
    assert!(stderr(&output).contains("refused the API keys"), "{}", stderr(&output));
    assert_never_shown(&output, &["sk_wrong_secret_value"]);

    // Usage errors exit with 3, not clap's 2 (which would read as "target unreachable").
    for args in [&["check", "--bogus"][..], &["connections", "--status", "fine"], &["token", "mint"], &["frobnicate"]] {
        let output = run(home.against(&platform, args)).await;
        assert_eq!(exit_code(&output), 3, "{args:?}: {}", stderr(&output));
    }
    let output = run(home.command(&["check", "--help"])).await;
    assert_eq!(exit_code(&output), 0);
    assert!(stdout(&output).contains("Examples:") && stdout(&output).contains("Exit codes:"));

    // Asking for a connection that is not there is the server's error (exit 2, with its
    // reason): exit 1 means only "connections need attention".
    let output = run(home.against(&platform, &["connection", "acme", "salesforce"])).await;
    assert_eq!(exit_code(&output), 2, "{}", stderr(&output));
    assert!(stderr(&output).contains("not found"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_filter_and_print_json_csv_and_tables() {
    let home = Home::new();
    let platform = TestPlatform::seeded(&unhealthy_seed().to_string()).await;

    let output = run(home.against(&platform, &["contexts", "--json"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let contexts = json_lines(&output);
    let ids: Vec<&str> = contexts.iter().map(|context| context["external_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["acme", "globex", "initech"]);
    assert_eq!(contexts[0]["plan"], "pro", "custom attributes stay flat, as on the wire");

    let output = run(home.against(&platform, &["contexts", "--search", "glob"])).await;
    let text = stdout(&output);
    assert!(text.starts_with("EXTERNAL ID") && text.contains("Globex") && !text.contains("acme"), "{text}");

    let output = run(home.against(&platform, &["connectors", "-o", "csv"])).await;
    let text = stdout(&output);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("slug,name,short_description,supports_multiple_connections"));
    assert_eq!(lines.count(), 3);

    let output = run(home.against(&platform, &["connections", "--status", "error", "--json"])).await;
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 1, "disabled connections are not errors: {rows:?}");
    assert_eq!((rows[0]["context"].as_str(), rows[0]["connector"].as_str()), (Some("globex"), Some("slack")));

    let output =
        run(home.against(&platform, &["connections", "--connector", "github", "--context", "initech", "--json"])).await;
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["health"], "unknown");

    let output = run(home.against(&platform, &["connections", "-o", "csv"])).await;
    let text = stdout(&output);
    assert!(text.starts_with("context,context_name,connector,connector_name,connection_id,enabled,health,"), "{text}");
    assert_eq!(text.lines().count(), 7);
    assert!(
        text.contains("initech,,salesforce,Salesforce,c-initech-salesforce,false,disabled,error,invalid_grant"),
        "{text}"
    );

    let output = run(home.against(&platform, &["connections"])).await;
    let text = stdout(&output);
    let first_row = text.lines().nth(1).unwrap();
    assert!(first_row.contains("○ disabled"), "tables sort worst health first: {text}");
    assert_never_shown(&output, &[platform.secret(), ACME_SLACK_TOKEN]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_credential_is_masked_unless_asked_for() {
    let home = Home::new();
    let platform = TestPlatform::seeded(&healthy_seed().to_string()).await;

    let output = run(home.against(&platform, &["connection", "acme", "slack"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("● active") && text.contains("hidden; --show-credential"), "{text}");
    assert_never_shown(&output, &[ACME_SLACK_TOKEN, platform.secret()]);

    let output = run(home.against(&platform, &["connection", "acme", "slack", "--json"])).await;
    assert_never_shown(&output, &[ACME_SLACK_TOKEN]);
    let detail: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(detail["health"], "active");
    assert_eq!(detail["connection"]["authorization"]["status"], "active");
    assert!(detail["connection"]["authorization"].get("credential").is_none());

    let output = run(home.against(&platform, &["connection", "acme", "slack", "--show-credential", "--json"])).await;
    let detail: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(detail["connection"]["authorization"]["credential"], ACME_SLACK_TOKEN);
    let output = run(home.against(&platform, &["connection", "acme", "slack", "--show-credential"])).await;
    assert!(stdout(&output).contains(ACME_SLACK_TOKEN));

    let log = home.log_text();
    assert!(!log.contains(ACME_SLACK_TOKEN) && !log.contains(platform.secret()), "{log}");
}

/// `connection --refresh` asks the provider for a new token now (here the demo's sandbox),
/// whatever the expiry; read-only refuses it before anything changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_refresh_forces_a_new_token_unless_read_only() {
    let home = Home::new();
    let platform = TestPlatform::demo().await;
    let started = chrono::Utc::now() - chrono::Duration::seconds(1);
    let read = |refresh: bool| {
        let mut args = vec!["connection", "org_umbrella", "jira", "--show-credential", "--json"];
        if refresh {
            args.push("--refresh");
        }
        run(home.against(&platform, &args))
    };
    let credential_of = |output: &Output| -> (String, Value) {
        assert_eq!(exit_code(output), 0, "{}", stderr(output));
        let detail: Value = serde_json::from_str(&stdout(output)).unwrap();
        let authorization = detail["connection"]["authorization"].clone();
        (authorization["credential"].as_str().expect("a credential").to_owned(), authorization)
    };

    let (first, authorization) = credential_of(&read(true).await);
    assert!(first.starts_with("sbx_at_"), "issued by the sandbox just now: {first}");
    assert_eq!(authorization["status"], "active");
    let refreshed_at =
        chrono::DateTime::parse_from_rfc3339(authorization["last_refreshed_at"].as_str().unwrap()).unwrap();
    assert!(refreshed_at >= started, "{authorization}");
    let expires_at = chrono::DateTime::parse_from_rfc3339(authorization["expires_at"].as_str().unwrap()).unwrap();
    assert!(expires_at > chrono::Utc::now() + chrono::Duration::minutes(50), "{authorization}");

    // Read-only refuses before asking anything: a plain read then finds the same token.
    let refused =
        run(home.against(&platform, &["--read-only", "connection", "org_umbrella", "jira", "--refresh"])).await;
    assert_eq!(exit_code(&refused), 3, "{}", stderr(&refused));
    assert!(stderr(&refused).contains("read-only"), "{}", stderr(&refused));
    assert_eq!(credential_of(&read(false).await).0, first, "a plain read of a fresh token does not refresh");

    // Forced even though the token is fresh; the text output keeps it masked.
    let (second, _) = credential_of(&read(true).await);
    assert!(second.starts_with("sbx_at_") && second != first, "{second}");
    let text = run(home.against(&platform, &["connection", "org_umbrella", "jira", "--refresh"])).await;
    assert_eq!(exit_code(&text), 0, "{}", stderr(&text));
    assert!(stdout(&text).contains("Last refreshed:") && stdout(&text).contains("● active"), "{}", stdout(&text));
    assert!(!stdout(&text).contains("sbx_at_"), "the credential is masked: {}", stdout(&text));

    // A connection in error has nothing to refresh with: the server's refusal (exit 2) and its
    // reason.
    let dead = run(home.against(&platform, &["connection", "org_umbrella", "dropbox", "--refresh"])).await;
    assert_eq!(exit_code(&dead), 2, "{}", stderr(&dead));
    assert!(stderr(&dead).contains("authorized again"), "{}", stderr(&dead));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minted_tokens_are_bare_on_stdout_and_refused_when_read_only() {
    let home = Home::new();
    let platform = TestPlatform::seeded(&healthy_seed().to_string()).await;

    let output = run(home.against(
        &platform,
        &["token", "mint", "--external-id", "hooli", "--name", "Hooli", "--attr", "plan=enterprise"],
    ))
    .await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let token = stdout(&output);
    assert!(token.ends_with('\n') && token.lines().count() == 1, "{token:?}");
    let claims = jwt_claims(token.trim());
    assert_eq!(claims["external_id"], "hooli");
    assert!(claims["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    // The context now exists on the platform, with its attribute.
    let output = run(home.against(&platform, &["contexts", "--search", "hooli", "--json"])).await;
    let contexts = json_lines(&output);
    assert_eq!((contexts.len(), &contexts[0]["plan"]), (1, &json!("enterprise")));

    let output = run(home.against(&platform, &["token", "mint", "--external-id", "hooli", "--json"])).await;
    let answer: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(jwt_claims(answer["access_token"].as_str().unwrap())["external_id"], "hooli");

    // Read-only, by flag or by profile, refuses before anything is created.
    let output = run(home.against(&platform, &["--read-only", "token", "mint", "--external-id", "ro_flag"])).await;
    assert_eq!(exit_code(&output), 3);
    assert!(stderr(&output).contains("read-only"), "{}", stderr(&output));
    home.write_config(
        &format!(
            "default_profile = \"ro\"\n[profiles.ro]\napi_url = \"{}\"\npublishable_key = \"{}\"\nsecret_command = \"echo {}\"\nread_only = true\n",
            platform.server.base_url(),
            platform.keys.publishable_key,
            platform.secret()
        ),
        0o644,
    );
    let output = run(home.command(&["token", "mint", "--external-id", "ro_profile"])).await;
    assert_eq!(exit_code(&output), 3, "{}", stderr(&output));
    let output = run(home.command(&["contexts", "--search", "ro_", "--json"])).await;
    assert_eq!(exit_code(&output), 0, "the read-only profile still reads: {}", stderr(&output));
    assert_eq!(stdout(&output), "", "nothing was minted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_files_are_validated_and_secrets_kept_private() {
    let home = Home::new();
    let platform = TestPlatform::seeded(&unhealthy_seed().to_string()).await;
    let file = home.config_file();

    home.write_config("[profiles.prod]\napi_url = \"http://127.0.0.1:1\"\nsecret_kye = \"typo\"\n", 0o600);
    let output = run(home.command(&["check"])).await;
    assert_eq!(exit_code(&output), 3);
    let message = stderr(&output);
    assert!(message.contains(&file.display().to_string()) && message.contains("line 3"), "{message}");
    assert!(message.contains("profiles.prod.secret_kye"), "{message}");

    let profile = format!(
        "default_profile = \"prod\"\n[profiles.prod]\napi_url = \"{}\"\npublishable_key = \"{}\"\nsecret_key = \"{}\"\n",
        platform.server.base_url(),
        platform.keys.publishable_key,
        platform.secret()
    );
    home.write_config(&profile, 0o644);
    let output = run(home.command(&["check"])).await;
    assert_eq!(exit_code(&output), 3);
    assert!(stderr(&output).contains(&format!("chmod 600 {}", file.display())), "{}", stderr(&output));
    assert_never_shown(&output, &[platform.secret()]);

    home.write_config(&profile, 0o600);
    let output = run(home.command(&["check", "--json"])).await;
    assert_eq!(exit_code(&output), 1, "the profile reaches the platform: {}", stderr(&output));

    let output = run(home.command(&["config", "show"])).await;
    assert_eq!(exit_code(&output), 0);
    assert!(stdout(&output).contains("secret_key = \"********\""), "{}", stdout(&output));
    assert_never_shown(&output, &[platform.secret()]);

    // `info` and `config path` still work, and say why, when the file is broken.
    home.write_config("default_profile = 3\n", 0o600);
    let output = run(home.command(&["info", "--json"])).await;
    assert_eq!(exit_code(&output), 0);
    let info: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(info["config_error"].as_str().unwrap().contains("default_profile"), "{info}");
    for key in ["config_file", "config_dir", "data_dir", "state_dir", "log_dir"] {
        assert!(Path::new(info[key].as_str().unwrap()).starts_with(home.dir.path()), "{key}: {info}");
    }
    let output = run(home.command(&["config", "path"])).await;
    assert_eq!(stdout(&output).trim(), file.display().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_init_writes_a_private_profile_that_commands_then_use() {
    use std::os::unix::fs::PermissionsExt as _;
    let home = Home::new();
    let platform = TestPlatform::seeded(&healthy_seed().to_string()).await;
    let base_url = platform.server.base_url();

    let mut init = home.command(&[
        "config",
        "init",
        "--profile",
        "ci",
        "--api-url",
        &base_url,
        "--publishable-key",
        &platform.keys.publishable_key,
        "--secret-key-stdin",
        "--catalog-url",
        "https://catalog.example",
        "--concurrency",
        "4",
        "--refresh",
        "45s",
    ]);
    init.write_stdin(format!("{}\n", platform.secret()));
    let output = run(init).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert_never_shown(&output, &[platform.secret()]);
    let file = home.config_file();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    // The first profile becomes the default; the configured catalog names the repair page.
    let output = run(home.command(&["connections", "--status", "pending", "--json"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let rows = json_lines(&output);
    assert_eq!(rows[0]["repair_url"], "https://catalog.example/connectors/github");

    // Without a terminal, missing values are an error rather than a prompt.
    let output = run(home.command(&["config", "init", "--profile", "other"])).await;
    assert_eq!(exit_code(&output), 3);
    assert!(stderr(&output).contains("--api-url"), "{}", stderr(&output));
    // An existing profile is not replaced silently.
    let output =
        run(home.command(&["config", "init", "--profile", "ci", "--api-url", &base_url, "--publishable-key", "pk"]))
            .await;
    assert_eq!(exit_code(&output), 3);
    assert!(stderr(&output).contains("--force"), "{}", stderr(&output));

    let output = run(home.command(&["config", "show", "--json"])).await;
    let shown: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(shown["default_profile"], "ci");
    assert_eq!(shown["profiles"]["ci"]["secret_key"], "********");
    assert_eq!(shown["profiles"]["ci"]["refresh"], "45s");
    assert_never_shown(&output, &[platform.secret()]);

    let output = run(home.command(&["info"])).await;
    assert!(stdout(&output).contains("profile ci"), "{}", stdout(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scan_falls_back_to_per_context_requests_without_the_bulk_route() {
    let home = Home::new();
    let platform = TestPlatform::seeded(&unhealthy_seed().to_string()).await;
    let proxy = XkitWithoutExtensions::start(platform.server.base_url()).await;

    let mut direct = home.against(&platform, &["check", "--json"]);
    direct.env("XKIT_API_URL", &proxy.url);
    let output = run(direct).await;
    assert_eq!(exit_code(&output), 1, "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    // Xkit's per-context route lists enabled connections only: the disabled one is not seen.
    assert_eq!(report["scanned"], 5);
    assert_eq!(report["totals"]["disabled"], 0);
    assert_eq!(report["unhealthy"].as_array().unwrap().len(), 2);
    assert_eq!(report["unhealthy"][0]["context"], "globex", "per-context results carry their context");
    assert!(proxy.refused_bulk_requests() > 0, "the bulk route was tried first");

    let mut filtered = home.against(&platform, &["connections", "--context", "acme", "--json"]);
    filtered.env("XKIT_API_URL", &proxy.url);
    let output = run(filtered).await;
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row["context"] == "acme"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_help_are_generated_from_the_definitions() {
    let home = Home::new();
    for shell in ["bash", "zsh", "fish"] {
        let output = run(home.command(&["completions", shell])).await;
        assert_eq!(exit_code(&output), 0);
        assert!(stdout(&output).contains("connections"), "{shell} completion lists the commands");
    }
    let output = run(home.command(&["completions", "tcsh"])).await;
    assert_eq!(exit_code(&output), 3);

    // The man page names every command; each command has its own page.
    let output = run(home.command(&["man"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    let page = stdout(&output);
    assert!(page.contains(".TH xkit-dash 1"), "roff: {page}");
    let commands: Vec<String> = <xkit_dash::cli::Cli as clap::CommandFactory>::command()
        .get_subcommands()
        .map(|command| command.get_name().to_owned())
        .collect();
    assert!(commands.len() >= 12 && commands.iter().any(|name| name == "man"), "{commands:?}");
    for name in &commands {
        assert!(page.contains(&format!("xkit\\-dash\\-{name}(1)")), "the man page does not mention {name}");
    }
    let output = run(home.command(&["man", "connection"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains(".TH xkit-dash-connection 1"), "{}", stdout(&output));
    assert!(stdout(&output).contains("\\-\\-refresh"), "{}", stdout(&output));
    assert_eq!(exit_code(&run(home.command(&["man", "nope"])).await), 3);
}

#[test]
fn config_init_asks_on_a_terminal() {
    use portable_pty::{PtySize, native_pty_system};
    use std::io::{Read as _, Write as _};
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    let home = Home::new();
    let pty = native_pty_system().openpty(PtySize { rows: 30, cols: 120, pixel_width: 0, pixel_height: 0 }).unwrap();
    let command = home.pty_command(&["config", "init", "--profile", "tty"]);
    let mut child = pty.slave.spawn_command(command).unwrap();
    drop(pty.slave);
    let mut reader = pty.master.try_clone_reader().unwrap();
    let mut writer = pty.master.take_writer().unwrap();
    let screen = Arc::new(Mutex::new(String::new()));
    let screen_in = screen.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(count) = reader.read(&mut buffer) {
            if count == 0 {
                break;
            }
            screen_in.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..count]));
        }
    });
    let mut answer = |prompt: &str, keys: &str| {
        let start = Instant::now();
        while !screen.lock().unwrap().contains(prompt) {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "no {prompt:?} prompt; got:\n{}",
                screen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        writer.write_all(keys.as_bytes()).unwrap();
        writer.flush().unwrap();
    };
    answer("Platform API URL", "http://127.0.0.1:9\r");
    answer("Publishable key", "pk_from_tty\r");
    answer("Where does the secret key come from?", "\r");
    answer("Command", "pass show xkit/tty\r");
    answer("Read-only", "y");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "config init did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{}", screen.lock().unwrap());

    let file = home.config_file();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let written: toml::Table = std::fs::read_to_string(&file).unwrap().parse().unwrap();
    let profile = &written["profiles"]["tty"];
    assert_eq!(profile["api_url"].as_str(), Some("http://127.0.0.1:9"));
    assert_eq!(profile["publishable_key"].as_str(), Some("pk_from_tty"));
    assert_eq!(profile["secret_command"].as_str(), Some("pass show xkit/tty"));
    assert_eq!(profile["read_only"].as_bool(), Some(true));
    assert_eq!(written["default_profile"].as_str(), Some("tty"));
}

/// `check --since`: the connection errors and refresh failures of the window, in text and JSON,
/// narrowed like the scan, each saying whether the connection is still broken; the exit code
/// still says what is broken now; a server without the event history is named, not fatal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_since_lists_what_broke_recently() {
    let home = Home::new();
    let unhealthy = TestPlatform::seeded(&unhealthy_seed().to_string()).await;
    let output = run(home.against(&unhealthy, &["check", "--since", "1h", "--json"])).await;
    assert_eq!(exit_code(&output), 1, "{}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["since_seconds"], 3600);
    // Both connections imported in error broke (at import); the disabled one is fine now.
    assert_eq!(report["recent_total"], 2, "{report}");
    assert_eq!(report["recent_unavailable"], Value::Null);
    let recent = report["recent"].as_array().unwrap();
    let still: Vec<(&str, &str, bool)> = recent
        .iter()
        .map(|broke| {
            assert_eq!(
                (broke["event_type"].as_str(), broke["error_code"].as_str()),
                (Some("connection.error"), Some("invalid_grant"))
            );
            (broke["connector"].as_str().unwrap(), broke["context"].as_str().unwrap(), broke["still_unhealthy"] == true)
        })
        .collect();
    assert!(
        still.contains(&("slack", "globex", true)) && still.contains(&("salesforce", "initech", false)),
        "{still:?}"
    );

    let output = run(home.against(&unhealthy, &["check", "--since", "1h"])).await;
    let text = stdout(&output);
    assert!(text.contains("2 connection errors and refresh failures in the last 1h"), "{text}");
    assert!(
        text.contains("still broken") && text.contains("fine now") && text.contains("Token revoked by admin"),
        "{text}"
    );

    let output = run(home.against(&unhealthy, &["check", "--since", "1h", "--connector", "github", "--json"])).await;
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["recent_total"], 0, "--connector narrows the history too: {report}");

    let healthy = TestPlatform::seeded(&healthy_seed().to_string()).await;
    // Its disabled connection broke at import: listed, and the verdict stays "healthy".
    let output = run(home.against(&healthy, &["check", "--since", "1h"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("<1m ago") && stdout(&output).contains("fine now"), "{}", stdout(&output));
    let output = run(home.against(&healthy, &["check", "--since", "1h", "--connector", "github"])).await;
    assert_eq!(exit_code(&output), 0, "{}", stderr(&output));
    assert!(stdout(&output).contains("Nothing broke in the last 1h"), "{}", stdout(&output));
    let output = run(home.against(&healthy, &["check", "--json"])).await;
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(report.get("recent").is_none(), "without --since the report keeps its shape: {report}");

    let proxy = XkitWithoutExtensions::start(unhealthy.server.base_url()).await;
    let mut without_events = home.against(&unhealthy, &["check", "--since", "1h", "--json"]);
    without_events.env("XKIT_API_URL", &proxy.url);
    let output = run(without_events).await;
    assert_eq!(exit_code(&output), 1, "the verdict is the scan's: {}", stderr(&output));
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(report["recent_unavailable"].as_str().is_some_and(|note| note.contains("no event history")), "{report}");
    assert!(stderr(&output).contains("--since lists nothing"), "{}", stderr(&output));
}
