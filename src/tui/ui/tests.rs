//! Snapshots of every pane and popup at two terminal sizes, drawn from states the reducer
//! built out of real model values.

use crossterm::event::KeyCode;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use tui_input::Input;

use super::draw;
use crate::tui::action::{Action, LoadEvent};
use crate::tui::fixtures::{at, code, key, loaded_state, new_state, press};
use crate::tui::mint::{MintForm, MintedToken};
use crate::tui::state::{Mode, State};
use crate::tui::update::update;

const SIZES: [(u16, u16); 2] = [(80, 24), (120, 40)];

fn render(state: &State) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(state.size.0, state.size.1)).unwrap();
    terminal.draw(|frame| draw(frame, state)).unwrap();
    terminal
}

/// Snapshots `prepare`d states at both sizes as `{name}_{width}x{height}`.
fn snapshot_each_size(name: &str, prepare: impl Fn(&mut State)) {
    for size in SIZES {
        let mut state = loaded_state(size);
        prepare(&mut state);
        let terminal = render(&state);
        insta::assert_snapshot!(format!("{name}_{}x{}", size.0, size.1), terminal.backend());
    }
}

#[test]
fn main_view() {
    snapshot_each_size("main", |_| {});
}

#[test]
fn connectors_focused_and_drilled_in() {
    snapshot_each_size("connector_drill", |state| {
        update(state, code(KeyCode::Tab));
        update(state, code(KeyCode::Enter));
    });
}

#[test]
fn triage() {
    snapshot_each_size("triage", |state| {
        update(state, key('t'));
    });
}

#[test]
fn detail_of_an_error_connection() {
    snapshot_each_size("detail_error", |state| {
        update(state, code(KeyCode::Enter));
        press(state, "jj");
        update(state, code(KeyCode::Enter));
    });
}

#[test]
fn filter_being_typed() {
    snapshot_each_size("filter", |state| {
        update(state, key('/'));
        press(state, "status:error");
    });
}

#[test]
fn help() {
    snapshot_each_size("help", |state| {
        update(state, key('?'));
    });
}

#[test]
fn mint_form_with_inline_errors() {
    snapshot_each_size("mint_form", |state| {
        let mut form = MintForm::new(Some("org_acme"));
        form.fields[1] = Input::new("Acme".into());
        form.fields[2] = Input::new("plan=pro seats".into());
        form.focus = 2;
        state.mode = Mode::Mint(form);
    });
}

#[test]
fn minted_token_is_masked() {
    // A JWT whose payload says {"sub":"org_acme","exp":1900000000}.
    let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvcmdfYWNtZSIsImV4cCI6MTkwMDAwMDAwMH0.c2lnbmF0dXJl";
    snapshot_each_size("minted", |state| {
        update(state, Action::Minted(Ok(MintedToken::new("org_acme".into(), token.into()))));
    });
    let mut state = loaded_state(SIZES[1]);
    update(&mut state, Action::Minted(Ok(MintedToken::new("org_acme".into(), token.into()))));
    assert!(!render(&state).backend().to_string().contains("eyJ"), "masked by default");
    update(&mut state, key('v'));
    assert!(render(&state).backend().to_string().contains("eyJhbGciOiJIUzI1NiJ9"), "revealed on request");
}

#[test]
fn a_forced_refresh_that_found_the_grant_revoked() {
    snapshot_each_size("refreshed_into_error", |state| {
        update(state, code(KeyCode::Enter));
        update(state, code(KeyCode::Enter));
        update(state, key('f'));
        let mut connection = crate::tui::fixtures::connections().remove(0);
        connection.context = None;
        let authorization = connection.authorization.as_mut().unwrap();
        authorization.status = crate::model::AuthorizationStatus::Error;
        authorization.error_code = Some("invalid_grant".into());
        authorization.error_message = Some("the grant has been revoked".into());
        authorization.last_refreshed_at = Some(at());
        update(state, Action::ConnectionRefreshed { id: connection.id.clone(), result: Ok(Box::new(connection)) });
    });
}

#[test]
fn url_popup_when_no_browser_opens() {
    snapshot_each_size("url_popup", |state| {
        let url = "http://127.0.0.1:4000/connectors/google-drive?token=xkrt_not_on_screen".to_owned();
        update(state, Action::BrowserOpened { url, result: Err("no browser found".into()) });
    });
}

#[test]
fn read_only_badge_and_hints() {
    snapshot_each_size("read_only", |state| {
        state.target.read_only = true;
        state.keymap = crate::tui::keymap::Keymap::new(&Default::default(), true).unwrap();
    });
}

#[test]
fn first_frame_before_any_data() {
    for size in SIZES {
        let mut state = new_state(size);
        update(&mut state, Action::Start);
        let terminal = render(&state);
        insta::assert_snapshot!(format!("loading_{}x{}", size.0, size.1), terminal.backend());
    }
}

#[test]
fn failing_refresh_shows_stale_and_errors() {
    snapshot_each_size("stale", |state| {
        update(state, Action::RefreshTick);
        let generation = state.generation;
        let page = LoadEvent::ContextsPage(crate::tui::fixtures::contexts());
        update(state, Action::Scan { generation, event: page });
        for (stream, result) in [
            (crate::tui::action::Stream::Contexts, Ok(())),
            (crate::tui::action::Stream::Connectors, Err("server busy or failing (503): maintenance".to_owned())),
            (crate::tui::action::Stream::Connections, Err("cannot reach the server: request timed out".to_owned())),
        ] {
            update(state, Action::Scan { generation, event: LoadEvent::Finished { stream, result } });
        }
        for pane in state.list_panes_mut() {
            pane.load.loaded_at = Some(at());
            if let Some((since, _)) = pane.load.error.as_mut() {
                *since = at();
            }
        }
    });
}

#[test]
fn hostile_strings_never_reach_the_screen_raw() {
    let mut state = loaded_state(SIZES[1]);
    press(&mut state, "jj");
    let terminal = render(&state);
    let cells = terminal.backend().buffer().content();
    assert!(cells.iter().all(|cell| !cell.symbol().chars().any(char::is_control)), "a control character was drawn");
    let screen = terminal.backend().to_string();
    assert!(screen.contains("Evil^[[2J"), "{screen}");
}

#[test]
fn a_frame_over_a_hundred_thousand_rows_draws_only_the_window() {
    let mut state = new_state(SIZES[1]);
    update(&mut state, Action::Start);
    let many = (0..100_000).map(|n| crate::tui::fixtures::context(&format!("ctx-{n:06}"), "Tenant")).collect();
    let generation = state.generation;
    update(&mut state, Action::Scan { generation, event: LoadEvent::ContextsPage(many) });
    press(&mut state, "G");
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("ctx-099999") && !screen.contains("ctx-000000"), "{screen}");
    assert!(screen.contains("Contexts 100000"), "{screen}");
}

#[test]
fn help_lists_every_live_binding_of_every_mode() {
    for read_only in [false, true] {
        let mut state = loaded_state((120, 90));
        state.target.read_only = read_only;
        state.keymap = crate::tui::keymap::Keymap::new(&Default::default(), read_only).unwrap();
        update(&mut state, key('?'));
        let screen = render(&state).backend().to_string();
        for binding in state.keymap.bindings() {
            assert!(screen.contains(binding.command.description()), "{:?} is missing:\n{screen}", binding.command);
        }
        assert_eq!(screen.contains("in the mint form"), !read_only, "read-only has no mint form:\n{screen}");
    }
}

#[test]
fn popups_and_hints_name_the_keys_as_rebound() {
    let overrides = crate::config::KeyOverrides::from([
        (
            "popup".to_owned(),
            crate::config::KeyOverride::Mode(
                [
                    ("reveal".to_owned(), vec!["r".to_owned()]),
                    ("copy".to_owned(), vec!["ctrl-y".to_owned()]),
                    ("close".to_owned(), vec!["x".to_owned()]),
                ]
                .into(),
            ),
        ),
        (
            "help".to_owned(),
            crate::config::KeyOverride::Mode([("scroll_down".to_owned(), vec!["n".to_owned()])].into()),
        ),
    ]);
    let mut state = loaded_state(SIZES[0]);
    state.keymap = crate::tui::keymap::Keymap::new(&overrides, false).unwrap();
    update(&mut state, Action::Minted(Ok(MintedToken::new("org_acme".into(), "tok-1".into()))));
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("r reveals · ctrl-y copies (OSC 52) · x closes"), "{screen}");
    assert!(screen.contains("r reveal/hide  ctrl-y copy  x close"), "{screen}");
    update(&mut state, key('x'));
    let url = "http://127.0.0.1:4000/connectors/slack".to_owned();
    update(&mut state, Action::BrowserOpened { url, result: Err("no browser found".into()) });
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("r reveals · ctrl-y copies again · x"), "{screen}");
    update(&mut state, key('x'));
    update(&mut state, key('?'));
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("Keys (n/k scroll)"), "{screen}");
    update(&mut state, Action::Resize { width: 120, height: 60 });
    let screen = render(&state).backend().to_string();
    assert!(screen.contains("n/k scroll  esc close"), "the hint bar below the popup:\n{screen}");
}

fn light_skin() -> crate::tui::theme::Skin {
    let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/skins");
    let table = [("skin".to_owned(), "light.toml".to_owned())].into();
    crate::tui::theme::Skin::from_config(&table, &assets).unwrap()
}

#[test]
fn a_custom_skin_colours_health_borders_selection_and_headers() {
    use ratatui::style::Color;
    let mut state = loaded_state((80, 24));
    state.theme = crate::tui::theme::Theme { color: true, skin: light_skin() };
    let terminal = render(&state);
    let buffer = terminal.backend().buffer();
    // The styles as well as the text: the skin is only visible in them.
    insta::assert_debug_snapshot!("light_skin_80x24", buffer);
    let error = state.theme.skin.error.fg;
    assert_eq!(error, Some(Color::Rgb(0xcf, 0x22, 0x2e)));
    let cells: Vec<_> = buffer.content().iter().collect();
    assert!(cells.iter().any(|cell| cell.symbol() == "✗" && cell.fg == Color::Rgb(0xcf, 0x22, 0x2e)), "error health");
    assert!(cells.iter().any(|cell| cell.bg == Color::Rgb(0xdd, 0xf4, 0xff)), "the selected row");
    assert!(cells.iter().any(|cell| cell.symbol() == "┏" && cell.fg == Color::Rgb(0x05, 0x50, 0xae)), "focused border");
}

#[test]
fn help_lists_the_plugins() {
    use crate::config::PluginConfig;
    use crate::tui::keymap::Keymap;
    use crate::tui::plugins::Plugins;
    let configs = [
        PluginConfig {
            name: "ticket".into(),
            key: "T".into(),
            scopes: vec!["connection".into()],
            command: vec!["ticket".into(), "{connection_id}".into()],
            ..PluginConfig::default()
        },
        PluginConfig {
            name: "shell in context".into(),
            key: "ctrl-o".into(),
            scopes: vec!["context".into(), "connection".into()],
            command: vec!["xkit-shell".into(), "{context}".into()],
            foreground: true,
            confirm: true,
            ..PluginConfig::default()
        },
    ];
    // Tall enough for every key, command and plugin: the plugins come last.
    let mut state = loaded_state((100, 100));
    state.plugins = Plugins::new(&configs, &Keymap::default(), false).unwrap();
    update(&mut state, key('?'));
    let terminal = render(&state);
    insta::assert_snapshot!("help_plugins_100x100", terminal.backend());
}

#[test]
fn profile_picker_and_plugin_confirmation() {
    snapshot_each_size("profile_picker", |state| {
        state.profiles = vec!["prod".into(), "staging".into(), "demo".into()];
        update(state, key('P'));
        update(state, key('k'));
    });
    snapshot_each_size("plugin_confirm", |state| {
        state.mode = Mode::Confirm(crate::tui::state::PendingPlugin {
            name: "ticket".into(),
            argv: vec!["ticket".into(), "--".into(), "c-acme-drive; rm -rf ~".into()],
            foreground: false,
        });
    });
}

#[test]
fn command_line_with_completion() {
    snapshot_each_size("command_completion", |state| {
        update(state, key(':'));
        press(state, "co");
        update(state, code(KeyCode::Tab));
        update(state, code(KeyCode::Tab));
    });
}

#[test]
fn lists_sorted_with_the_arrow() {
    snapshot_each_size("sorted", |state| {
        crate::tui::fixtures::command(state, "sort conns");
        update(state, code(KeyCode::Tab));
        crate::tui::fixtures::command(state, "sort errors");
        update(state, code(KeyCode::Tab));
        crate::tui::fixtures::command(state, "sort health asc");
    });
}

/// Events as the follower reports them (oldest first), one of each colour, with a hostile
/// message.
fn followed_events() -> Vec<crate::model::Event> {
    let event = |n: u32, event_type: &str, connection: Option<&str>, payload: serde_json::Value| crate::model::Event {
        id: format!("e{n}"),
        event_type: event_type.into(),
        occurred_at: format!("2026-03-14T09:{:02}:00Z", 10 + n),
        context: Some("org_acme".into()),
        connector: connection.map(|_| "google-drive".to_owned()),
        connection: connection.map(str::to_owned),
        payload,
        ..Default::default()
    };
    vec![
        event(0, "context.created", None, serde_json::json!({})),
        event(1, "connection.refresh_failed", Some("c-acme-drive"), serde_json::json!({"message": "provider busy"})),
        event(
            2,
            "connection.error",
            Some("c-acme-drive"),
            serde_json::json!({"error_code": "invalid_grant", "error_message": "revoked\u{1b}[2J by admin"}),
        ),
        event(3, "connection.recovered", Some("c-acme-drive"), serde_json::json!({})),
        event(4, "connection.disabled", Some("c-acme-drive"), serde_json::json!({})),
    ]
}

/// A day of hourly buckets with a few errors and recoveries, some of them Slack's.
fn history() -> crate::model::StatsHistory {
    use crate::model::{ConnectorStats, StatsBucket, StatsCounts};
    let buckets = (0..25u64)
        .map(|hour| {
            let errors = [0, 1, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 0, 5, 1, 0, 0, 0, 0, 0, 2, 0, 0, 1, 4][hour as usize];
            let counts = StatsCounts { errors, recoveries: errors / 2, refreshes: 10, transient_failures: 0 };
            let slack = StatsCounts { errors: errors.min(1), ..StatsCounts::default() };
            StatsBucket {
                start: format!("hour {hour}"),
                totals: counts,
                connectors: vec![ConnectorStats { connector: "slack".into(), counts: slack }],
            }
        })
        .collect();
    crate::model::StatsHistory { buckets, bucket_seconds: 3600, ..Default::default() }
}

fn with_events(state: &mut State) {
    use crate::tui::live::FollowEvent;
    update(state, Action::Follow(FollowEvent::Events { events: followed_events(), apply: false }));
    update(state, key('E'));
    update(state, Action::Follow(FollowEvent::Stats(Ok(Box::new(history())))));
}

#[test]
fn events_view_with_the_24_hour_chart() {
    snapshot_each_size("events", with_events);
}

#[test]
fn events_view_filtered_without_room_for_the_chart() {
    let mut state = loaded_state((100, 16));
    with_events(&mut state);
    press(&mut state, "/type:error");
    let terminal = render(&state);
    insta::assert_snapshot!("events_filtered_100x16", terminal.backend());
    let screen = format!("{:?}", terminal.backend());
    assert!(!screen.contains("Last 24 hours"), "no room for the chart");
    assert!(!screen.contains('\u{1b}'), "the hostile message is sanitized");
}

#[test]
fn the_header_says_live_or_polling() {
    use crate::tui::live::FollowEvent;
    let mut state = loaded_state((100, 8));
    update(&mut state, Action::Follow(FollowEvent::Events { events: Vec::new(), apply: true }));
    insta::assert_snapshot!("header_live_100x8", render(&state).backend());
    let failed = FollowEvent::Failed { error: "cannot reach".into(), retry_in: std::time::Duration::from_secs(4) };
    update(&mut state, Action::Follow(failed));
    update(&mut state, Action::Resize { width: 150, height: 8 });
    insta::assert_snapshot!("header_retrying_150x8", render(&state).backend());
    update(&mut state, Action::Resize { width: 100, height: 8 });
    update(&mut state, Action::Follow(FollowEvent::Unsupported));
    insta::assert_snapshot!("header_polling_100x8", render(&state).backend());
}

/// Remote-backed (a large platform): totals from the server's counters, the first page of
/// contexts loaded and the rows past it drawn as placeholders while their page is read.
#[test]
fn remote_backed_placeholder_rows() {
    use crate::model::{HealthTotals, PlatformStats};
    use crate::tui::action::Effect;
    use crate::tui::live::FollowEvent;
    use crate::tui::remote::{RemoteEvent, RemoteRequest};

    let mut state = new_state((120, 40));
    update(&mut state, Action::Start);
    let health = HealthTotals { active: 180_000, pending: 8_000, unknown: 2_000, error: 6_000, disabled: 4_000 };
    let stats = PlatformStats { contexts: 40_000, connections: 200_000, health, connectors: Vec::new() };
    let generation = state.generation;
    let effects = update(&mut state, Action::Scan { generation, event: LoadEvent::Remote(Box::new(stats)) });
    let Some(Effect::Remote(RemoteRequest::Contexts { page, .. })) = effects.into_iter().next() else {
        panic!("the first page is read")
    };
    let rows = (0..100).map(|n| crate::tui::fixtures::context(&format!("org_{n:05}"), "Generated")).collect();
    let event = RemoteEvent::ContextsPage { page, result: Ok((rows, Some("next".into()))) };
    update(&mut state, Action::Follow(FollowEvent::Remote(event)));
    crate::tui::fixtures::finish_all(&mut state, Ok(()));
    // Past the end of the first page: the next one is on its way.
    for _ in 0..105 {
        update(&mut state, key('j'));
    }
    for pane in state.list_panes_mut() {
        pane.load.loaded_at = Some(at());
    }
    insta::assert_snapshot!("remote_placeholders_120x40", render(&state).backend());
}

/// Remote-backed, a filtered contexts list is not counted by the totals: while more pages
/// exist its count says `N+` (the rows known), not a number that grows as it is scrolled.
#[test]
fn remote_backed_filtered_count_is_a_lower_bound() {
    use crate::model::{HealthTotals, PlatformStats};
    use crate::tui::action::Effect;
    use crate::tui::live::FollowEvent;
    use crate::tui::remote::{RemoteEvent, RemoteRequest};

    let mut state = new_state((100, 16));
    update(&mut state, Action::Start);
    let health = HealthTotals { active: 180_000, pending: 8_000, unknown: 2_000, error: 6_000, disabled: 4_000 };
    let stats = PlatformStats { contexts: 40_000, connections: 200_000, health, connectors: Vec::new() };
    let generation = state.generation;
    update(&mut state, Action::Scan { generation, event: LoadEvent::Remote(Box::new(stats)) });
    update(&mut state, key('/'));
    press(&mut state, "acme");
    let effects = update(&mut state, code(KeyCode::Enter));
    let Some(page) = effects.into_iter().find_map(|effect| match effect {
        Effect::Remote(RemoteRequest::Contexts { query, page }) if query.search.as_deref() == Some("acme") => {
            Some(page)
        }
        _ => None,
    }) else {
        panic!("the filter is asked for")
    };
    let rows = (0..100).map(|n| crate::tui::fixtures::context(&format!("org_acme_{n:03}"), "Acme")).collect();
    let event = RemoteEvent::ContextsPage { page, result: Ok((rows, Some("next".into()))) };
    update(&mut state, Action::Follow(FollowEvent::Remote(event)));
    crate::tui::fixtures::finish_all(&mut state, Ok(()));
    for pane in state.list_panes_mut() {
        pane.load.loaded_at = Some(at());
    }
    let backend = render(&state);
    insta::assert_snapshot!("remote_filtered_count_100x16", backend.backend());
    let screen = format!("{}", backend.backend());
    assert!(screen.contains("Contexts 100+/40000 /acme"), "{screen}");
}
