//! The dashboard as a person uses it: the real binary in a pseudo-terminal, keys typed, the
//! screen read back through a terminal emulator (vt100). Every wait is bounded.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use portable_pty::{Child, PtySize, native_pty_system};

use crate::support::cli::Home;
use crate::support::hostile::{Answer, HostileServer, connections_page};
use crate::support::oauth::location;

/// The longest any single wait may take: generous, because CI runs these on two busy cores.
const DEADLINE: Duration = Duration::from_secs(20);
const ROWS: u16 = 40;
const COLS: u16 = 140;

/// A running dashboard in a pseudo-terminal (also driven by `tui_profiles` and `tui_power`).
pub(crate) struct Dashboard {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn std::io::Write + Send>,
    screen: Arc<Mutex<vt100::Parser>>,
    /// Every byte the dashboard wrote, for escape sequences the emulator does not keep (OSC 52).
    pub(crate) raw: Arc<Mutex<Vec<u8>>>,
    home: Home,
}

impl Dashboard {
    /// Starts `xkit-dash` with a home of its own (temporary config/data/state directories) and
    /// nothing else configured, plus `env` and `args`.
    pub(crate) fn start(env: &[(&str, &str)], args: &[&str]) -> Self {
        let home = Home::new();
        let pty = native_pty_system()
            .openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 })
            .expect("a pseudo-terminal");
        let mut command = home.pty_command(args);
        command.cwd(home.dir.path());
        command.env_remove("BROWSER");
        for (variable, value) in env {
            command.env(variable, value);
        }
        let child = pty.slave.spawn_command(command).expect("xkit-dash starts");
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().expect("pty reader");
        let writer = pty.master.take_writer().expect("pty writer");
        let screen = Arc::new(Mutex::new(vt100::Parser::new(ROWS, COLS, 0)));
        let raw = Arc::new(Mutex::new(Vec::new()));
        let (screen_in, raw_in) = (screen.clone(), raw.clone());
        std::thread::spawn(move || {
            // Keeps the master alive as long as the reader runs.
            let _master = pty.master;
            let mut buffer = [0u8; 8192];
            while let Ok(count) = reader.read(&mut buffer) {
                if count == 0 {
                    break;
                }
                screen_in.lock().unwrap().process(&buffer[..count]);
                raw_in.lock().unwrap().extend_from_slice(&buffer[..count]);
            }
        });
        Self { child, writer, screen, raw, home }
    }

    pub(crate) fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// Waits until the screen satisfies `condition`; fails with the screen when it never does.
    pub(crate) fn wait_for(&self, what: &str, condition: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let text = self.text();
            if condition(&text) {
                return text;
            }
            assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}; the screen shows:\n{text}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn wait_for_text(&self, needle: &str) -> String {
        self.wait_for(&format!("{needle:?}"), |text| text.contains(needle))
    }

    /// Types keys; each call is one burst, so escape sequences stay whole.
    pub(crate) fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).expect("write to the pty");
        self.writer.flush().expect("flush the pty");
        // Lets the dashboard read the burst on its own, so a lone ESC is not taken as Alt.
        std::thread::sleep(Duration::from_millis(80));
    }

    pub(crate) fn type_text(&mut self, text: &str) {
        for character in text.chars() {
            self.press(&character.to_string());
        }
    }

    /// Waits for the process to exit and returns whether it succeeded.
    pub(crate) fn wait_exit(&mut self) -> bool {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("child status") {
                // Give the reader a moment to take the last bytes (terminal restore).
                std::thread::sleep(Duration::from_millis(200));
                return status.success();
            }
            assert!(start.elapsed() < DEADLINE, "the dashboard did not exit; the screen shows:\n{}", self.text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn alternate_screen(&self) -> bool {
        self.screen.lock().unwrap().screen().alternate_screen()
    }

    pub(crate) fn assert_terminal_restored(&self) {
        let parser = self.screen.lock().unwrap();
        assert!(!parser.screen().alternate_screen(), "the alternate screen was not left");
        assert!(!parser.screen().hide_cursor(), "the cursor was left hidden");
    }

    /// The last OSC 52 clipboard payload the dashboard sent.
    fn last_clipboard(&self) -> Option<String> {
        let raw = self.raw.lock().unwrap();
        let text = String::from_utf8_lossy(&raw);
        let start = text.rfind("\u{1b}]52;")?;
        let rest = &text[start + 5..];
        let payload = rest.split_once(';')?.1;
        let end = payload.find(['\u{7}', '\u{1b}'])?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(&payload[..end]).ok()?;
        String::from_utf8(bytes).ok()
    }

    pub(crate) fn path(&self, relative: &str) -> PathBuf {
        self.home.dir.path().join(relative)
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The screen line containing `needle`.
fn line_with<'a>(text: &'a str, needle: &str) -> &'a str {
    text.lines().find(|line| line.contains(needle)).unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
}

/// A `$BROWSER` that records the URL it is given.
fn recording_browser(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt as _;
    let record = dir.join("opened.txt");
    let script = dir.join("record-browser");
    std::fs::write(&script, format!("#!/bin/sh\nprintf '%s\\n' \"$1\" >> '{}'\n", record.display())).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    (script, record)
}

/// The rows of the connections pane (right column, top), below its title.
fn connection_rows(dash: &Dashboard) -> Vec<String> {
    let parser = dash.screen.lock().unwrap();
    let right = COLS * 40 / 100;
    let lines: Vec<String> = parser.screen().rows(right, COLS - right).collect();
    let title =
        lines.iter().position(|line| line.contains("Connections") || line.contains("TRIAGE")).expect("pane title");
    lines[title + 2..]
        .iter()
        .take_while(|line| !line.starts_with('└') && !line.starts_with('┗'))
        .filter(|line| !line.trim_matches(['│', '┃', ' ']).is_empty())
        .cloned()
        .collect()
}

/// The server root the header names: `local demo · http://127.0.0.1:PORT/`.
fn server_root(screen: &str) -> String {
    let start = screen.find("http://").expect("the header names the server");
    screen[start..].split_whitespace().next().unwrap().trim_end_matches('/').to_owned()
}

#[test]
fn newcomer_browses_the_demo_filters_triages_repairs_and_mints() {
    let browser_dir = tempfile::tempdir().unwrap();
    let (browser, record) = recording_browser(browser_dir.path());
    let mut dash = Dashboard::start(&[("BROWSER", browser.to_str().unwrap())], &[]);

    // The panes fill in from the embedded demo platform, with no configuration at all.
    let screen = dash.wait_for("the demo platform to load", |text| {
        text.contains("Connections of org_acme")
            && text.contains("Contexts 68 · loaded")
            && text.contains("356 connections")
            && text.contains("Google Drive")
    });
    assert!(screen.contains("local demo · http://127.0.0.1:"), "{screen}");
    assert!(screen.contains("Connectors 15"), "{screen}");
    assert!(screen.contains("✗ 48 error") && screen.contains("● 221 active"), "header totals:\n{screen}");
    // Acme's Google Drive connection is in error: word and symbol, not just colour.
    let rows = connection_rows(&dash);
    let drive = rows.iter().find(|row| row.contains("Google Drive")).expect("Acme has a Google Drive connection");
    assert!(drive.contains("✗ error"), "{drive}");
    assert!(rows.iter().any(|row| row.contains("● active")), "{rows:#?}");
    let root = server_root(&screen);

    // A field term narrows the contexts to those owning an unknown connection.
    dash.press("/");
    dash.type_text("status:unknown");
    let screen = dash.wait_for("the filter to apply", |text| text.contains("/status:unknown"));
    assert!(screen.contains("org_gringotts") && screen.contains("org_tyrell"), "{screen}");
    assert!(!screen.contains("org_bluth"), "an all-active context survived the filter:\n{screen}");
    let title = line_with(&screen, "Contexts ");
    assert!(title.contains("/68") && !title.contains("68/68"), "{title}");
    dash.press("\r");
    dash.press("\u{1b}");
    dash.wait_for("the filter to clear", |text| text.contains("Contexts 68 ·") && text.contains("org_bluth"));

    // Triage: every unhealthy connection across all contexts, and nothing else.
    dash.press("t");
    dash.wait_for_text("TRIAGE: needs attention 61");
    let rows = connection_rows(&dash);
    assert!(rows.len() >= 10, "{rows:#?}");
    for row in &rows {
        assert!(row.contains("✗ error") || row.contains("? unknown"), "healthy row in triage: {row}");
    }

    // `o` hands the selected connection's catalog repair URL to $BROWSER: on the bundled
    // server, a repair link minted by `repair_link` (a single-use `xkrt_` token in the query).
    let screen = dash.text();
    let connector_line = line_with(&screen, "connector    ");
    let slug = connector_line.rsplit_once('(').unwrap().1.split_once(')').unwrap().0.to_owned();
    dash.press("o");
    let expected = format!("{root}/connectors/{slug}");
    let start = Instant::now();
    let repair_token = loop {
        let opened = std::fs::read_to_string(&record).unwrap_or_default();
        let prefix = format!("{expected}?token=");
        if let Some(token) =
            opened.lines().find_map(|line| line.strip_prefix(&prefix)).filter(|t| t.starts_with("xkrt_"))
        {
            break token.to_owned();
        }
        assert!(start.elapsed() < DEADLINE, "$BROWSER got {opened:?}, expected {expected}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let screen = dash.wait_for_text(&format!("opened {expected}?token="));
    assert!(!screen.contains(&repair_token), "the repair token is on screen:\n{screen}");

    // `m`: the form validates inline, mints, masks the token and copies it on request.
    dash.press("m");
    dash.wait_for_text("Mint a context token");
    dash.press("\u{15}"); // ctrl-u empties the prefilled external_id
    dash.wait_for_text("✗ required");
    dash.type_text("e2e-tenant");
    dash.press("\t");
    dash.type_text("E2E Tenant");
    dash.press("\t");
    dash.type_text("plan=pro region=eu");
    dash.press("\r");
    let screen = dash.wait_for_text("Context token");
    assert!(screen.contains("••••••••"), "the token is masked:\n{screen}");
    assert!(!screen.contains("eyJ"), "the token is shown unmasked:\n{screen}");
    assert!(line_with(&screen, "expires").contains(':'), "a JWT's expiry is shown:\n{screen}");
    dash.press("y");
    dash.wait_for_text("token copied");
    let token = dash.last_clipboard().expect("the token went to the clipboard with OSC 52");
    dash.press("v");
    dash.wait_for_text(&token[..24]);

    // The platform accepts the token it minted, and stored the context as typed.
    let embedded = dash.path("data/embedded-demo");
    let signer =
        xkit_dash::server::tokens::TokenSigner::load(&embedded, "northwind", xkit_dash::server::DEFAULT_TOKEN_TTL)
            .expect("the demo's signing key");
    let claims = signer.verify(&token).expect("the server accepts the minted token");
    assert_eq!(claims.external_id, "e2e-tenant");
    let keys: xkit_dash::server::KeyPair =
        serde_json::from_slice(&std::fs::read(embedded.join("embedded-keys.json")).unwrap()).unwrap();
    let target = xkit_dash::client::ApiTarget {
        api_url: root.clone(),
        publishable_key: keys.publishable_key,
        secret_key: keys.secret_key,
    };
    let client = xkit_dash::client::Client::new(&target, &Default::default()).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let context = runtime.block_on(client.get_context("e2e-tenant")).unwrap();
    assert_eq!(context.external_name.as_deref(), Some("E2E Tenant"));
    assert_eq!(context.attributes.get("region"), Some(&serde_json::json!("eu")));
    // The Platform User API takes it as a Bearer token, and refuses it once tampered with.
    let session = |token: String| {
        let url = format!("{root}/api/platform_user/session");
        runtime.block_on(async move {
            let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            (response.status(), response.json::<serde_json::Value>().await.unwrap())
        })
    };
    let (status, body) = session(token.clone());
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    assert_eq!(body["context"]["external_id"], "e2e-tenant");
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { 'B' } else { 'A' };
    let (status, body) = session(format!("{signed}.{flipped}{}", &signature[1..]));
    assert_eq!(status, reqwest::StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"].is_string());

    // A clean exit leaves the alternate screen and shows the cursor again.
    dash.press("\u{1b}");
    dash.press("q");
    assert!(dash.wait_exit(), "the dashboard exited with an error:\n{}", dash.text());
    dash.assert_terminal_restored();
    let log = std::fs::read_to_string(dash.path("state/logs/dashboard.log")).expect("the log file");
    assert!(log.contains("context token minted"), "{log}");
    assert!(!log.contains(&token), "the log holds the token");
    assert!(!log.contains(&repair_token), "the log holds the repair token");
}

/// Issue 4's story on the demo: a sandbox grant revoked behind the platform's back, `f` shows
/// the connection broken at once, `o` hands the repair link to the browser, the repair runs
/// through the catalog and the sandbox's consent page, and `r` shows the connection green.
#[test]
fn a_revoked_grant_turns_red_on_f_and_green_after_the_repair() {
    let browser_dir = tempfile::tempdir().unwrap();
    let (browser, record) = recording_browser(browser_dir.path());
    // Debug logs, so that the check at the end also covers every request the server traced.
    let mut dash = Dashboard::start(&[("BROWSER", browser.to_str().unwrap()), ("XKIT_DASH_LOG", "debug")], &[]);
    let screen = dash.wait_for("the demo platform to load", |text| {
        text.contains("Contexts 68 · loaded") && text.contains("356 connections")
    });
    let root = server_root(&screen);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // The embedded server's own keys: the demo needs no configuration, and neither does this.
    let keys: xkit_dash::server::KeyPair =
        serde_json::from_slice(&std::fs::read(dash.path("data/embedded-demo/embedded-keys.json")).unwrap()).unwrap();
    let browser_http =
        reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();

    // Revoke Umbrella's Jira grant on the sandbox, as the admin page's Revoke button does.
    runtime.block_on(async {
        let grants: serde_json::Value =
            browser_http.get(format!("{root}/sandbox/grants")).send().await.unwrap().json().await.unwrap();
        let grant = grants["grants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["subject"] == "org_umbrella" && g["client_id"] == "northwind-jira" && g["revoked_at"].is_null())
            .unwrap_or_else(|| panic!("Umbrella's live Jira grant in {grants}"));
        // A browser names the page a form comes from; the server refuses posts from other sites.
        let revoked = browser_http
            .post(format!("{root}/sandbox/grants/{}/revoke", grant["id"]))
            .header("origin", &root)
            .send()
            .await
            .unwrap();
        assert_eq!(revoked.status(), reqwest::StatusCode::SEE_OTHER);
    });

    // Select it: narrow the contexts, drill in, narrow the connections.
    dash.press("/");
    dash.type_text("context:org_umbrella connector:jira");
    dash.press("\r");
    dash.wait_for("the contexts to narrow", |text| text.contains("Contexts 1/68"));
    dash.press("\r");
    dash.wait_for_text("Connections of org_umbrella");
    dash.press("/");
    dash.type_text("connector:jira");
    dash.press("\r");
    let screen = dash.wait_for("only Jira listed", |_| {
        let rows = connection_rows(&dash);
        rows.len() == 1 && rows[0].contains("Jira")
    });
    let detail = line_with(&screen, "id (any API) ");
    let id = detail.split_once("id (any API) ").unwrap().1.split_whitespace().next().unwrap().to_owned();
    assert!(!connection_rows(&dash)[0].contains("✗ error"), "not broken before anyone asks the provider");

    // `f`: the provider refuses the revoked grant, and the dashboard says so at once.
    dash.press("f");
    let screen = dash.wait_for_text("refresh failed: invalid_grant: the grant has been revoked (jira, org_umbrella)");
    assert!(connection_rows(&dash)[0].contains("✗ error"), "{screen}");
    assert!(line_with(&screen, "error code").contains("invalid_grant"), "{screen}");

    // `o`: the repair link goes to the browser.
    dash.press("o");
    let prefix = format!("{root}/connectors/jira?token=xkrt_");
    let start = Instant::now();
    let link = loop {
        let opened = std::fs::read_to_string(&record).unwrap_or_default();
        if let Some(line) = opened.lines().find(|line| line.starts_with(&prefix)) {
            break line.to_owned();
        }
        assert!(start.elapsed() < DEADLINE, "$BROWSER got {opened:?}, expected {prefix}...");
        std::thread::sleep(Duration::from_millis(50));
    };

    // The browser's part: Reconnect on the catalog page, Approve on the sandbox's consent page,
    // then the callback.
    let mut flow_secrets = vec![link.split_once("?token=").unwrap().1.to_owned()];
    runtime.block_on(async {
        let link = url::Url::parse(&link).unwrap();
        let page = browser_http.get(link.clone()).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("invalid_grant") && page.contains("Reconnect"), "{page}");
        let reconnect = forms(&page)
            .into_iter()
            .find(|form| form.fields.iter().any(|(name, value)| name == "connection_id" && *value == id))
            .unwrap_or_else(|| panic!("a Reconnect form for {id} in {page}"));
        let started = browser_http
            .post(link.join(&reconnect.action).unwrap())
            .header("origin", &root)
            .form(&reconnect.fields)
            .send()
            .await
            .unwrap();
        let consent_url = location(&started).unwrap_or_else(|| panic!("{} is not a redirect", started.status()));
        assert!(consent_url.path().ends_with("/sandbox/oauth/authorize"), "{consent_url}");
        let consent = browser_http.get(consent_url.clone()).send().await.unwrap().text().await.unwrap();
        assert!(consent.contains(r#"name="decision" value="approve""#), "an Approve button: {consent}");
        let mut approve = forms(&consent).into_iter().next().expect("the consent form");
        approve.fields.push(("decision".into(), "approve".into()));
        let approved = browser_http
            .post(consent_url.join(&approve.action).unwrap())
            .header("origin", &root)
            .form(&approve.fields)
            .send()
            .await
            .unwrap();
        let callback = location(&approved).unwrap_or_else(|| panic!("{} is not a redirect", approved.status()));
        let code = callback.query_pairs().find(|(name, _)| name == "code").expect("an authorization code").1;
        flow_secrets.push(code.into_owned());
        let done = browser_http.get(callback).send().await.unwrap();
        assert_eq!(done.status(), reqwest::StatusCode::OK);
        assert!(done.text().await.unwrap().contains("Connected"));
    });

    // `r`: the next scan shows the same connection green.
    dash.press("r");
    let screen = dash.wait_for("the repaired connection to show active", |_| {
        connection_rows(&dash).first().is_some_and(|row| row.contains("● active") && row.contains("Jira"))
    });
    assert!(line_with(&screen, "id (any API) ").contains(&id), "the same connection id: {screen}");

    // The platform agrees, through its own API.
    let target = xkit_dash::client::ApiTarget {
        api_url: root,
        publishable_key: keys.publishable_key,
        secret_key: keys.secret_key,
    };
    let client = xkit_dash::client::Client::new(&target, &Default::default()).unwrap();
    let repaired = runtime.block_on(client.get_connection_by_id(&id)).unwrap().connection;
    assert_eq!(xkit_dash::model::Health::of(Some(&repaired)), xkit_dash::model::Health::Active);
    dash.press("q");
    assert!(dash.wait_exit(), "the dashboard exited with an error:\n{}", dash.text());
    dash.assert_terminal_restored();

    // The embedded server traced every request of the repair at debug level: paths only.
    let log = std::fs::read_to_string(dash.path("state/logs/dashboard.log")).expect("the log file");
    assert!(log.contains("/catalog/oauth/callback"), "the callback request was traced: {log}");
    for secret in &flow_secrets {
        let leak = log.lines().find(|line| line.contains(secret.as_str()));
        assert!(leak.is_none(), "the log holds {secret:?}: {leak:?}");
    }
}

/// A page's `<form>`: its action and the name/value of its inputs.
struct Form {
    action: String,
    fields: Vec<(String, String)>,
}

/// The forms of a page, as a browser would submit them (inputs only: the pressed button is added
/// by the caller).
fn forms(html: &str) -> Vec<Form> {
    html.split("<form")
        .skip(1)
        .map(|chunk| {
            let body = &chunk[..chunk.find("</form>").unwrap_or(chunk.len())];
            let action = attribute(&body[..body.find('>').unwrap_or(body.len())], "action").unwrap_or_default();
            let fields = body
                .split("<input")
                .skip(1)
                .filter_map(|input| {
                    let tag = &input[..input.find('>').unwrap_or(input.len())];
                    Some((attribute(tag, "name")?, attribute(tag, "value").unwrap_or_default()))
                })
                .collect();
            Form { action, fields }
        })
        .collect()
}

/// An attribute's value in an HTML tag, unescaped.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    let raw = &tag[start..end];
    Some(
        raw.replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

const DUMMY_KEYS: [(&str, &str); 2] = [("XKIT_PUBLISHABLE_KEY", "pk_test"), ("XKIT_SECRET_KEY", "sk_test")];

#[test]
fn a_stalled_server_never_freezes_the_screen() {
    let server = HostileServer::start(|_| Answer::Hang);
    let env = [("XKIT_API_URL", server.url.as_str()), DUMMY_KEYS[0], DUMMY_KEYS[1]];
    let mut dash = Dashboard::start(&env, &["--request-timeout", "1s"]);
    dash.wait_for("the first frame while loading", |text| text.contains("Contexts") && text.contains("loading"));

    // Keys work while every request hangs: help opens and closes, the selection pane moves.
    dash.press("?");
    dash.wait_for_text("show every key");
    dash.press("\u{1b}");
    dash.wait_for("help to close", |text| !text.contains("show every key"));
    dash.press("\t");
    dash.wait_for("the connectors pane to take focus", |text| text.contains("┏ Connectors"));

    // The timeout surfaces as a pane state, not a hang.
    dash.wait_for_text("error: cannot reach the server: request timed out");
    // Once every list has given up, the header says since when the target fails.
    dash.wait_for_text("failing since");

    // SIGTERM restores the terminal too.
    let pid = dash.child.process_id().expect("a pid");
    let killed = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(killed.success());
    dash.wait_exit();
    dash.assert_terminal_restored();
}

#[test]
fn garbage_answers_show_as_errors_and_read_only_hides_minting() {
    let server = HostileServer::start(|_| Answer::Json(200, "<html>definitely not json".into()));
    let env = [("XKIT_API_URL", server.url.as_str()), DUMMY_KEYS[0], DUMMY_KEYS[1]];
    let mut dash = Dashboard::start(&env, &["--read-only"]);
    let screen = dash.wait_for_text("error: invalid response: response is not JSON");
    assert!(screen.contains("READ-ONLY"), "{screen}");
    assert!(!screen.contains("m mint"), "read-only still offers minting:\n{screen}");
    assert!(!screen.contains("f renew"), "read-only still offers forced refreshes:\n{screen}");
    dash.press("m");
    dash.press("?");
    let screen = dash.wait_for_text("show every key");
    assert!(!screen.contains("Mint a context token") && !screen.contains("mint a context token"), "{screen}");
    assert!(screen.contains("read-only: mutating keys are not bound"), "{screen}");
    dash.press("\u{1b}");
    dash.press("\u{3}"); // ctrl-c
    assert!(dash.wait_exit(), "ctrl-c is a clean exit");
    dash.assert_terminal_restored();
}

#[test]
fn a_runaway_server_stops_at_the_dashboards_connection_budget() {
    // Fresh 1,000-row pages forever (well, 200 pages: an unbounded dashboard fails the test
    // rather than eat the machine).
    let server = HostileServer::start(|seen| match seen.path() {
        "/api/platform/connections" => {
            let page: usize = seen.query("cursor").and_then(|cursor| cursor.parse().ok()).unwrap_or(0);
            let next = (page < 200).then(|| (page + 1).to_string());
            Answer::Json(200, connections_page(page * 1000, 1000, next.as_deref()))
        }
        "/api/platform/contexts" => {
            Answer::Json(200, r#"{"contexts":[{"external_id":"x0"}],"next_cursor":null}"#.into())
        }
        "/api/platform/connectors" => {
            Answer::Json(200, r#"{"connectors":[{"slug":"s","name":"S"}],"next_cursor":null}"#.into())
        }
        _ => Answer::Json(404, r#"{"error":"not found"}"#.into()),
    });
    let env = [("XKIT_API_URL", server.url.as_str()), DUMMY_KEYS[0], DUMMY_KEYS[1]];
    let mut dash = Dashboard::start(&env, &["--max-connections", "3000"]);
    // The status line has the width for the whole message (the pane's title clips it).
    let whole = format!(
        "{}/api/platform has more than 3000 connections; stopped (raise --max-connections or max_connections in \
         the profile)",
        server.url
    );
    let screen = dash.wait_for_text(&whole);
    assert!(screen.contains("failing since"), "{screen}");
    assert!(screen.contains("3000 connections"), "the rows within the budget stay:\n{screen}");
    std::thread::sleep(Duration::from_millis(500));
    let pages = server.count("/api/platform/connections");
    assert!(pages <= 4, "{pages} pages requested");
    dash.press("q");
    assert!(dash.wait_exit());
}
