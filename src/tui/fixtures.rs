//! Test states built from real model values, fed through the reducer as a scan would.

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Effect, LoadEvent, Stream};
use super::keymap::Keymap;
use super::state::{Settings, State, TargetInfo};
use super::theme::Theme;
use super::update::update;
use crate::model::{Authorization, AuthorizationStatus, Connection, Connector, Context, ContextRef};

pub const CATALOG: &str = "http://127.0.0.1:4000";
/// A roomy terminal, for reducer tests.
pub const SIZE: (u16, u16) = (120, 40);

pub fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 14, 9, 26, 53).unwrap()
}

pub fn connector(slug: &str, name: &str) -> Connector {
    Connector { slug: slug.into(), name: name.into(), ..Default::default() }
}

pub fn context(id: &str, name: &str) -> Context {
    Context { external_id: id.into(), external_name: Some(name.into()), ..Default::default() }
}

pub fn connection(id: &str, context: &str, connector: Connector, enabled: bool, status: Option<&str>) -> Connection {
    Connection {
        id: id.into(),
        enabled,
        connector,
        authorization: status.map(|status| Authorization {
            id: Some(format!("auth-{id}")),
            status: AuthorizationStatus::parse(status),
            ..Default::default()
        }),
        context: Some(ContextRef { external_id: context.into(), external_name: None }),
    }
}

pub fn contexts() -> Vec<Context> {
    vec![
        context("org_acme", "Acme Corporation"),
        context("org_globex", "Globex Industries"),
        // A hostile name: escape sequences must never reach the terminal.
        context("org_evil", "Evil\u{1b}[2J\u{1b}]0;pwned\u{7} Corp"),
    ]
}

pub fn connectors() -> Vec<Connector> {
    vec![connector("slack", "Slack"), connector("github", "GitHub"), connector("google-drive", "Google Drive")]
}

pub fn connections() -> Vec<Connection> {
    let [slack, github, drive] = <[Connector; 3]>::try_from(connectors()).unwrap();
    let mut active = connection("c-acme-slack", "org_acme", slack.clone(), true, Some("active"));
    if let Some(authorization) = active.authorization.as_mut() {
        authorization.display_label = Some("Acme (acme.slack.com)".into());
        authorization.expires_at = Some(at() + chrono::Duration::hours(1));
        authorization.last_refreshed_at = Some(at());
        authorization.status_changed_at = Some(at() - chrono::Duration::days(5));
    }
    let mut failed = connection("c-acme-drive", "org_acme", drive, true, Some("error"));
    if let Some(authorization) = failed.authorization.as_mut() {
        authorization.display_label = Some("ops@acme.example".into());
        authorization.error_code = Some("invalid_grant".into());
        authorization.error_message = Some("Token has been expired or revoked.".into());
        authorization.status_changed_at = Some(at() - chrono::Duration::minutes(125));
    }
    vec![
        active,
        connection("c-acme-github", "org_acme", github.clone(), true, Some("awaiting_callback")),
        failed,
        connection("c-globex-slack", "org_globex", slack.clone(), false, Some("active")),
        connection("c-globex-github", "org_globex", github, true, Some("suspended")),
        connection("c-evil-slack", "org_evil", slack, true, None),
    ]
}

pub fn new_state(size: (u16, u16)) -> State {
    let target = TargetInfo {
        label: "local demo · http://127.0.0.1:4000/".into(),
        read_only: false,
        bundled: true,
        api_url: "http://127.0.0.1:4000/".into(),
        profile: Some("demo".into()),
    };
    let mut state = State::new(target, Keymap::default(), Theme::default(), Settings::default(), Some(CATALOG.into()));
    update(&mut state, Action::Resize { width: size.0, height: size.1 });
    state.frozen_now = Some(at());
    state.time_zone = chrono::FixedOffset::east_opt(0);
    state
}

/// A state after one complete scan of the fixture platform, with fixed "loaded at" times.
pub fn loaded_state(size: (u16, u16)) -> State {
    let mut state = new_state(size);
    update(&mut state, Action::Start);
    let generation = state.generation;
    for event in [
        LoadEvent::ConnectorsPage(connectors()),
        LoadEvent::ContextsPage(contexts()),
        LoadEvent::ConnectionsPage { connections: connections(), fallback: false },
        LoadEvent::Finished { stream: Stream::Connectors, result: Ok(()) },
        LoadEvent::Finished { stream: Stream::Contexts, result: Ok(()) },
        LoadEvent::Finished { stream: Stream::Connections, result: Ok(()) },
    ] {
        update(&mut state, Action::Scan { generation, event });
    }
    for pane in state.list_panes_mut() {
        pane.load.loaded_at = Some(at());
    }
    state
}

pub fn key(character: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(character), KeyModifiers::NONE))
}

pub fn code(code: KeyCode) -> Action {
    Action::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn press(state: &mut State, keys: &str) {
    for character in keys.chars() {
        update(state, key(character));
    }
}

/// Feeds one event of the current scan.
pub fn scan(state: &mut State, event: LoadEvent) -> Vec<Effect> {
    let generation = state.generation;
    update(state, Action::Scan { generation, event })
}

/// Ends the current scan's three streams, the connections one with `connections`.
pub fn finish_all(state: &mut State, connections: Result<(), String>) -> Vec<Effect> {
    scan(state, LoadEvent::Finished { stream: Stream::Contexts, result: Ok(()) });
    scan(state, LoadEvent::Finished { stream: Stream::Connectors, result: Ok(()) });
    scan(state, LoadEvent::Finished { stream: Stream::Connections, result: connections })
}

/// The ids the connections pane lists, in order.
pub fn listed_ids(state: &State) -> Vec<&str> {
    state.connections.view.index.iter().map(|&position| state.data.connections[position].id.as_str()).collect()
}

/// Types `:line` and enter; the effects of the enter.
pub fn command(state: &mut State, line: &str) -> Vec<Effect> {
    update(state, key(':'));
    press(state, line);
    update(state, code(KeyCode::Enter))
}

/// The ids (contexts), slugs (connectors) or connection ids a list pane lists, in order.
pub fn listed(state: &State, pane: crate::tui::state::Pane) -> Vec<String> {
    use crate::tui::state::Pane;
    let data = &state.data;
    state
        .list_pane(pane)
        .view
        .index
        .iter()
        .map(|&position| match pane {
            Pane::Contexts => data.contexts[position].external_id.clone(),
            Pane::Connectors => data.connectors[position].slug.clone(),
            Pane::Connections | Pane::Detail => data.connections[position].id.clone(),
        })
        .collect()
}
