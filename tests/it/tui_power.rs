//! The dashboard's power tools in the real binary, in a pseudo-terminal, on the embedded demo:
//! the `:` command line with tab completion and its history file, sorting with one key, the
//! mouse (an xterm SGR click on a row and on a column header), and the whole newcomer's story
//! with a second profile and a plugin. Every wait is bounded.

use crate::support::server::TestPlatform;
use crate::tui_e2e::Dashboard;
use crate::tui_profiles::{wait_for_file, write_private_config};

/// Columns of the left panes at the harness's 140 columns (two fifths).
const LEFT: usize = 56;

/// The left pane's rows under the `Connector` header, as (name, error count).
fn connector_rows(screen: &str) -> Vec<(String, u32)> {
    let lines: Vec<String> = screen.lines().map(|line| line.chars().take(LEFT).collect()).collect();
    let header = lines
        .iter()
        .position(|line| line.trim_start_matches(['│', '┃']).starts_with("Connector"))
        .expect("the connectors header");
    lines[header + 1..]
        .iter()
        .take_while(|line| !line.starts_with('└') && !line.starts_with('┗'))
        .filter_map(|line| {
            let words: Vec<&str> = line.trim_matches(['│', '┃', ' ']).split_whitespace().collect();
            let counts = words.len().checked_sub(5)?;
            let errors = words[counts + 2].parse().ok()?;
            Some((words[..counts].join(" "), errors))
        })
        .collect()
}

/// An xterm SGR mouse click (press and release) at 0-based `column`, `row`.
fn click(dash: &mut Dashboard, column: usize, row: usize) {
    let (x, y) = (column + 1, row + 1);
    dash.press(&format!("\u{1b}[<0;{x};{y}M\u{1b}[<0;{x};{y}m"));
}

#[test]
fn colon_tab_reaches_the_connectors_s_sorts_them_and_a_click_selects_a_context() {
    let mut dash = Dashboard::start(&[], &[]);
    dash.wait_for("the demo platform to load", |text| {
        text.contains("Connections of org_acme")
            && text.contains("Contexts 68 · loaded")
            && text.contains("Connectors 15")
    });

    // `:co` + tab offers every command starting with "co", the focused list's own last, and
    // puts the first in the line; tab again moves on, shift-tab back.
    dash.press(":");
    dash.type_text("co");
    dash.press("\t");
    let screen = dash.wait_for_text(":connectors");
    assert!(screen.contains("connectors  connections  context  connector  contexts"), "{screen}");
    dash.press("\t");
    dash.wait_for_text(":connections");
    dash.press("\u{1b}[Z");
    dash.wait_for_text(":connectors");
    dash.press("\r");
    dash.wait_for("the connectors to take the focus", |text| text.contains("┏ Connectors 15"));

    // One key sorts; the header shows the column and its arrow. `s` moves on to the ✗ column,
    // most errors first.
    dash.press("s");
    let screen = dash.wait_for_text("Connector↑");
    let names: Vec<String> = connector_rows(&screen).into_iter().map(|(name, _)| name.to_lowercase()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "sorted by name:\n{screen}");
    dash.type_text("sss");
    let screen = dash.wait_for_text("✗↓");
    let errors: Vec<u32> = connector_rows(&screen).into_iter().map(|(_, errors)| errors).collect();
    assert!(errors.len() >= 5 && errors.windows(2).all(|pair| pair[0] >= pair[1]), "{errors:?}\n{screen}");
    assert!(errors[0] > 0, "the demo has failing connections:\n{screen}");

    // A click on the third context row (border at row 2, header at 3, rows from 4) selects it,
    // focuses the contexts and lists its connections.
    let screen = dash.text();
    let third = screen.lines().nth(6).expect("a third context row").chars().take(LEFT).collect::<String>();
    let id = third.split_whitespace().find(|word| word.starts_with("org_")).expect("a context id").to_owned();
    click(&mut dash, 20, 6);
    dash.wait_for("the clicked context to be listed", |text| {
        text.contains(&format!("Connections of {id}")) && text.contains("┏ Contexts 68")
    });
    // A click on the contexts' `Conns` header sorts them, most connections first.
    let header = screen.lines().nth(3).unwrap();
    let conns = header.chars().take(LEFT).collect::<String>().find("Conns").expect("the Conns header");
    click(&mut dash, header[..conns].chars().count() + 1, 3);
    dash.wait_for_text("Conn↓");

    // A bad command answers on the status line; `:q` quits and the history is kept.
    dash.press(":");
    dash.type_text("bogus");
    dash.press("\r");
    dash.wait_for_text("unknown command :bogus; :help lists them");
    dash.press(":");
    dash.type_text("q");
    dash.press("\r");
    assert!(dash.wait_exit(), "`:q` exits cleanly");
    dash.assert_terminal_restored();
    let history = std::fs::read_to_string(dash.path("state/command_history")).expect("the history file");
    assert_eq!(history, "connectors\nbogus\nq\n");
}

/// Whether the dashboard asked the terminal for mouse reports (xterm's `?1000h`).
fn captured_the_mouse(dash: &Dashboard) -> bool {
    let raw = dash.raw.lock().unwrap();
    raw.windows(8).any(|window| window == b"\x1b[?1000h")
}

#[test]
fn no_mouse_leaves_the_mouse_to_the_terminal() {
    for (args, captured) in [(&[][..], true), (&["--no-mouse"][..], false)] {
        let mut dash = Dashboard::start(&[], args);
        let screen = dash.wait_for("the demo platform to load", |text| text.contains("Contexts 68 · loaded"));
        assert_eq!(captured_the_mouse(&dash), captured, "{args:?}");
        if !captured {
            // Mouse reports that arrive anyway are ignored: the click selects nothing.
            click(&mut dash, 20, 6);
            dash.press("j");
            let second = screen.lines().nth(5).unwrap().chars().take(LEFT).collect::<String>();
            let id = second.split_whitespace().find(|word| word.starts_with("org_")).unwrap().to_owned();
            dash.wait_for_text(&format!("Connections of {id}"));
        }
        dash.press("q");
        assert!(dash.wait_exit());
    }
}

/// Pages of the `?` help read at most, scrolling with `space`.
const HELP_PAGES: usize = 12;

/// The issue's "done when", in one run: on the demo, `:co` tab reaches the connectors, one key
/// sorts them by errors, a plugin run on a broken connection receives its id, a click selects
/// a row, `:profile` switches to a second server, and `?` lists all of it.
#[test]
fn a_newcomer_reaches_connectors_sorts_by_errors_runs_a_plugin_clicks_a_row_and_switches_profile() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let second = runtime.block_on(async {
        let second = TestPlatform::empty().await;
        let (status, _) = second.create_context(serde_json::json!({"external_id": "second-tenant"})).await;
        assert!(status.is_success(), "{status}");
        second
    });
    let config = tempfile::tempdir().unwrap();
    let recorded = config.path().join("plugin-args.txt");
    // No default profile: the dashboard opens the embedded demo.
    let config_text = format!(
        r#"[profiles.second]
api_url = "{url}"
publishable_key = "{pk}"
secret_key = "{sk}"

[[plugins]]
name = "record"
key = "R"
scopes = ["connection"]
command = ["/bin/sh", "-c", "printf '%s\n' \"$@\" > '{recorded}'", "record", "{{connection_id}}", "{{status}}", "{{connector}}"]
"#,
        url = second.server.base_url(),
        pk = second.keys.publishable_key,
        sk = second.secret(),
        recorded = recorded.display(),
    );
    write_private_config(config.path(), &config_text);
    let mut dash = Dashboard::start(&[("XKIT_DASH_CONFIG_DIR", config.path().to_str().unwrap())], &[]);
    dash.wait_for("the demo platform to load", |text| {
        text.contains("local demo · http://") && text.contains("Contexts 68 · loaded") && text.contains("Connectors 15")
    });

    // `:co` + one tab puts the connectors in the line.
    dash.press(":");
    dash.type_text("co");
    dash.press("\t");
    dash.wait_for_text(":connectors");
    dash.press("\r");
    dash.wait_for("the connectors to take the focus", |text| text.contains("┏ Connectors 15"));

    // One key, `4` (the ✗ column), sorts them by errors, most first.
    dash.press("4");
    let screen = dash.wait_for_text("✗↓");
    assert!(screen.contains("Connectors sorted by errors ↓"), "{screen}");
    let rows = connector_rows(&screen);
    let errors: Vec<u32> = rows.iter().map(|(_, errors)| *errors).collect();
    assert!(errors.len() >= 5 && errors.windows(2).all(|pair| pair[0] >= pair[1]), "{errors:?}\n{screen}");
    assert!(errors[0] > 0, "the demo has failing connections:\n{screen}");

    // The plugin runs on a broken connection of the connector with the most errors (the
    // selection followed its item through the sort: `g` goes to the top) and receives that
    // connection's id as one argument.
    dash.press("g");
    dash.press("\r");
    dash.press("/");
    dash.type_text("status:error");
    dash.press("\r");
    dash.press("R");
    let arguments = wait_for_file(&recorded);
    let arguments: Vec<&str> = arguments.lines().collect();
    let [id, status, connector] = arguments[..] else { panic!("three arguments: {arguments:?}") };
    assert_eq!(status, "error");
    let screen = dash.wait_for("the detail of the connection the plugin got", |text| {
        text.contains(&format!("id (any API) {id}")) && text.contains(&format!("({connector})"))
    });
    assert!(screen.contains(&format!("connector    {} ({connector})", rows[0].0)), "{screen}");

    // A click on the third context row (border at row 2, header at 3, rows from 4) selects it.
    let third = screen.lines().nth(6).expect("a third context row").chars().take(LEFT).collect::<String>();
    let context = third.split_whitespace().find(|word| word.starts_with("org_")).expect("a context id").to_owned();
    click(&mut dash, 20, 6);
    dash.wait_for("the clicked context to be listed", |text| {
        text.contains(&format!("Connections of {context}")) && text.contains("┏ Contexts 68")
    });

    // `:profile second` replaces the demo with the second server.
    dash.press(":");
    dash.type_text("profile second");
    dash.press("\r");
    let screen = dash.wait_for("the second profile to load", |text| {
        text.contains("second · http://127.0.0.1:") && text.contains("Contexts 1 · loaded")
    });
    assert!(screen.contains("second-tenant") && !screen.contains("org_acme"), "{screen}");

    // `?` lists the command line, the sort keys, the plugin and the profile picker.
    dash.press("?");
    let mut seen = dash.wait_for_text("Keys");
    for _ in 0..HELP_PAGES {
        dash.press(" ");
        seen.push_str(&dash.text());
    }
    for listed in [
        ":               type a command (:help lists them)",
        ":profile <name>",
        "1-9             sort the focused list by its Nth column; again: flip",
        "s               sort the focused list by its next column",
        "R               record · connection · background",
        "P               switch to another profile (or the demo)",
    ] {
        assert!(seen.contains(listed), "? lists {listed:?}:\n{seen}");
    }
    dash.press("\u{1b}");
    dash.press("q");
    assert!(dash.wait_exit(), "the dashboard quits cleanly");
    dash.assert_terminal_restored();
}
