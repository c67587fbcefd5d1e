//! Profiles and plugins as a person uses them: the real binary in a pseudo-terminal, switching
//! between two bundled servers started here, and a plugin that writes its arguments to a file.
//! Every wait is bounded.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::support::server::TestPlatform;
use crate::tui_e2e::Dashboard;

/// The longest the test waits for a file a plugin writes.
const DEADLINE: Duration = Duration::from_secs(20);

/// A TCP relay in front of a server that counts the bytes clients send through it: once a
/// target is closed, the count must stay still.
struct CountingRelay {
    url: String,
    sent: Arc<AtomicUsize>,
}

impl CountingRelay {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else { continue };
                tokio::spawn(relay(client, server, counter.clone()));
            }
        });
        Self { url, sent }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

async fn relay(client: TcpStream, server: TcpStream, sent: Arc<AtomicUsize>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buffer = [0u8; 8192];
        while let Ok(count) = client_read.read(&mut buffer).await {
            if count == 0 || server_write.write_all(&buffer[..count]).await.is_err() {
                break;
            }
            sent.fetch_add(count, Ordering::SeqCst);
        }
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    tokio::join!(upstream, downstream);
}

/// Waits for a file a plugin writes, ending with a newline (also used by `tui_power`).
pub(crate) fn wait_for_file(path: &std::path::Path) -> String {
    let start = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
        {
            return text;
        }
        assert!(start.elapsed() < DEADLINE, "the plugin never wrote {}", path.display());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Writes `config.toml` in `dir` with mode 0600, as a file holding secret keys must be (also
/// used by `tui_power`).
pub(crate) fn write_private_config(dir: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let config_file = dir.join("config.toml");
    std::fs::write(&config_file, text).unwrap();
    std::fs::set_permissions(&config_file, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn a_plugin_gets_the_broken_connection_and_a_switch_leaves_the_old_server_alone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (alpha, beta, relay) = runtime.block_on(async {
        let alpha = TestPlatform::demo().await;
        let beta = TestPlatform::empty().await;
        let (status, _) = beta.create_context(serde_json::json!({"external_id": "beta-only-tenant"})).await;
        assert!(status.is_success(), "{status}");
        let relay = CountingRelay::start(&alpha.server.base_url()).await;
        (alpha, beta, relay)
    });
    let config = tempfile::tempdir().unwrap();
    let recorded = config.path().join("plugin-args.txt");
    let config_text = format!(
        r#"default_profile = "alpha"

[profiles.alpha]
api_url = "{alpha_url}"
publishable_key = "{alpha_pk}"
secret_key = "{alpha_sk}"

[profiles.beta]
api_url = "{beta_url}"
publishable_key = "{beta_pk}"
secret_key = "{beta_sk}"

[[plugins]]
name = "record"
key = "R"
scopes = ["connection"]
command = ["/bin/sh", "-c", "printf '%s\n' \"$@\" > '{recorded}'", "record", "{{connection_id}}", "{{status}}", "{{context}}"]
"#,
        alpha_url = relay.url,
        alpha_pk = alpha.keys.publishable_key,
        alpha_sk = alpha.secret(),
        beta_url = beta.server.base_url(),
        beta_pk = beta.keys.publishable_key,
        beta_sk = beta.secret(),
        recorded = recorded.display(),
    );
    write_private_config(config.path(), &config_text);
    let config_dir = config.path().to_str().unwrap();
    // A refresh every second: a target left running would be seen talking within the wait.
    let mut dash = Dashboard::start(&[("XKIT_DASH_CONFIG_DIR", config_dir)], &["--refresh", "1s"]);
    let screen = dash.wait_for("the alpha profile to load", |text| {
        text.contains("alpha · http://127.0.0.1:") && text.contains("Contexts 68 · loaded")
    });
    assert!(screen.contains("Connections of org_acme"), "{screen}");

    // The plugin runs on a broken connection and receives its id as one argument.
    dash.press("\r");
    dash.press("/");
    for character in "status:error".chars() {
        dash.press(&character.to_string());
    }
    dash.press("\r");
    dash.press("R");
    let arguments = wait_for_file(&recorded);
    let arguments: Vec<&str> = arguments.lines().collect();
    assert_eq!(arguments.len(), 3, "{arguments:?}");
    let (id, status, context) = (arguments[0], arguments[1], arguments[2]);
    assert_eq!((status, context), ("error", "org_acme"));
    let connection = runtime.block_on(alpha.client().get_connection_by_id(id)).unwrap().connection;
    assert_eq!(connection.id, id);
    assert_eq!(
        connection.authorization.map(|authorization| authorization.status.as_str().to_owned()).as_deref(),
        Some("error")
    );

    // The picker lists both profiles and the demo; beta replaces alpha entirely.
    dash.press("P");
    let picker = dash.wait_for_text("Profiles");
    assert!(picker.contains("alpha") && picker.contains("beta") && picker.contains("demo"), "{picker}");
    dash.press("j");
    dash.press("\r");
    let screen = dash.wait_for("the beta profile to load", |text| {
        text.contains("beta · http://127.0.0.1:") && text.contains("Contexts 1 · loaded")
    });
    assert!(screen.contains("beta-only-tenant"), "{screen}");
    assert!(!screen.contains("org_acme") && !screen.contains("alpha ·"), "nothing of alpha stays:\n{screen}");

    let before = relay.sent();
    assert!(before > 0, "alpha was reached through the relay before the switch");
    // Several refresh intervals: beta keeps refreshing, alpha hears nothing.
    std::thread::sleep(Duration::from_millis(2500));
    dash.wait_for_text("beta · http://127.0.0.1:");
    assert_eq!(relay.sent(), before, "a request reached the old target after the switch");

    // The embedded demo, then beta, then the demo again: it is shut down on the way out and
    // opens again on its own data.
    // The picker opens on the current profile; the list is alpha, beta, demo.
    let steps = [("j", "local demo · http://", "Contexts 68 · loaded"), ("k", "beta · http://", "Contexts 1 · loaded")];
    for (moves, label, loaded) in [steps[0], steps[1], steps[0]] {
        dash.press("P");
        dash.wait_for_text("Profiles");
        for step in moves.chars() {
            dash.press(&step.to_string());
        }
        dash.press("\r");
        dash.wait_for(label, |text| text.contains(label) && text.contains(loaded) && !text.contains("opening"));
    }

    dash.press("q");
    assert!(dash.wait_exit(), "the dashboard quits cleanly");
    dash.assert_terminal_restored();
}

#[test]
fn a_foreground_plugin_gets_the_terminal_and_the_dashboard_comes_back() {
    let config = tempfile::tempdir().unwrap();
    let recorded = config.path().join("typed.txt");
    let config_text = format!(
        r#"[[plugins]]
name = "ask"
key = "A"
scopes = ["connection"]
command = ["/bin/sh", "-c", "printf 'plugin has the terminal for %s\n' \"$1\"; read line; printf '%s\n' \"$line\" > '{recorded}'", "ask", "{{connection_id}}"]
foreground = true
confirm = true
"#,
        recorded = recorded.display(),
    );
    std::fs::write(config.path().join("config.toml"), config_text).unwrap();
    let mut dash = Dashboard::start(&[("XKIT_DASH_CONFIG_DIR", config.path().to_str().unwrap())], &[]);
    dash.wait_for("the demo platform to load", |text| text.contains("Contexts 68 · loaded"));
    dash.press("\r");
    dash.press("A");
    let confirm = dash.wait_for_text("Run plugin ask?");
    assert!(confirm.contains("\"ask\""), "the exact arguments are shown:\n{confirm}");
    dash.press("y");
    // The plugin owns the normal screen and the keyboard: what is typed reaches it.
    let screen = dash.wait_for_text("plugin has the terminal for ");
    assert!(!dash.alternate_screen(), "the dashboard left the alternate screen:\n{screen}");
    dash.press("typed into the plugin\r");
    assert_eq!(wait_for_file(&recorded), "typed into the plugin\n");
    let screen = dash.wait_for_text("plugin ask: done");
    assert!(screen.contains("Contexts 68") && dash.alternate_screen(), "the dashboard is back:\n{screen}");
    dash.press("q");
    assert!(dash.wait_exit(), "the dashboard quits cleanly");
    dash.assert_terminal_restored();
}

#[test]
fn the_environments_keys_never_follow_a_switch_to_another_server() {
    use crate::support::hostile::{Answer, HostileServer};
    use base64::Engine as _;
    let other = HostileServer::start(|_| Answer::Json(200, r#"{"contexts": []}"#.into()));
    let start = HostileServer::start(|_| Answer::Json(200, r#"{"contexts": []}"#.into()));
    let config = tempfile::tempdir().unwrap();
    let config_file = config.path().join("config.toml");
    let config_text = format!(
        "[profiles.other]\napi_url = \"{}\"\npublishable_key = \"pk_other\"\nsecret_key = \"sk_other\"\n",
        other.url
    );
    std::fs::write(&config_file, config_text).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&config_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let env = [
        ("XKIT_DASH_CONFIG_DIR", config.path().to_str().unwrap()),
        ("XKIT_API_URL", start.url.as_str()),
        ("XKIT_PUBLISHABLE_KEY", "pk_from_env"),
        ("XKIT_SECRET_KEY", "sk_from_env"),
    ];
    let mut dash = Dashboard::start(&env, &[]);
    dash.wait_for("the first target to be asked", |_| start.count("/api/platform/contexts") > 0);
    dash.press("P");
    dash.wait_for_text("Profiles");
    dash.press("\r");
    dash.wait_for("the other profile to be asked", |text| {
        text.contains("other · http://") && other.count("/api/platform/contexts") > 0
    });
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("pk_other:sk_other"));
    // Every credential it was sent is its own (the platform record is asked for without one).
    let sent: Vec<String> = other.seen().into_iter().filter_map(|seen| seen.authorization).collect();
    assert!(!sent.is_empty() && sent.iter().all(|auth| *auth == expected), "{sent:?}");
    dash.press("q");
    assert!(dash.wait_exit(), "the dashboard quits cleanly");
}
