//! The reducer: the only code that changes [`State`]. Pure apart from reading the wall clock
//! for "loaded at" stamps; every side effect is returned as an [`Effect`].

use std::time::Duration;

use chrono::Utc;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use secrecy::ExposeSecret;
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::action::{Action, Effect, ScanEvent, Stream};
use super::keymap::Command;
use super::mint::MintForm;
use super::state::{Data, Flash, Mode, Pane, RunningScan, State, masked_url};
use super::ui;
use super::ui::layout::list_rows;
use crate::client::ClientError;
use crate::humanize::relative_time;
use crate::model::{AuthorizationStatus, Connection, Health};
use crate::sanitize::for_terminal;

/// The first retry after a failed scan; each further failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    state.needs_redraw = true;
    match action {
        Action::Start => start_scan(state),
        Action::Key(key) => on_key(state, key),
        Action::Resize { width, height } => {
            state.size = (width, height);
            for pane in [Pane::Contexts, Pane::Connectors, Pane::Connections] {
                let rows = list_rows(state.size, pane);
                if let Some(list) = state.list_mut(pane) {
                    list.scroll_into_view(rows);
                }
            }
            Vec::new()
        }
        Action::RefreshTick => {
            if state.scan.is_some() {
                // Never two scans at once: the running one schedules the next when it ends.
                state.needs_redraw = false;
                Vec::new()
            } else {
                start_scan(state)
            }
        }
        Action::SpinnerTick => {
            state.spinner = state.spinner.wrapping_add(1);
            state.needs_redraw = state.is_loading();
            Vec::new()
        }
        Action::Scan { generation, event } => {
            if generation != state.generation || state.scan.is_none() {
                state.needs_redraw = false;
                return Vec::new();
            }
            on_scan_event(state, event)
        }
        Action::BrowserOpened { url, result } => match result {
            Ok(()) => {
                flash(state, format!("opened {}", masked_url(&url)), false);
                Vec::new()
            }
            Err(reason) => {
                state.mode = Mode::Url { url: url.clone(), reason, revealed: false };
                vec![Effect::Copy(url)]
            }
        },
        Action::Minted(result) => {
            match result {
                Ok(minted) => {
                    flash(state, format!("minted a context token for {}", minted.external_id), false);
                    state.mode = Mode::Minted(minted);
                }
                Err(message) => match &mut state.mode {
                    Mode::Mint(form) => {
                        form.submitting = false;
                        form.server_error = Some(message);
                    }
                    _ => flash(state, format!("minting failed: {message}"), true),
                },
            }
            Vec::new()
        }
        Action::ConnectionRefreshed { id, result } => on_refreshed(state, &id, result),
        Action::Failed(message) => {
            flash(state, message, true);
            Vec::new()
        }
        Action::Terminate => quit(state),
    }
}

fn flash(state: &mut State, text: impl Into<String>, error: bool) {
    state.flash = Some(Flash { text: text.into(), error });
}

fn quit(state: &mut State) -> Vec<Effect> {
    state.quit = true;
    vec![Effect::Quit]
}

fn start_scan(state: &mut State) -> Vec<Effect> {
    state.generation += 1;
    let loaded_before = state.loads.iter().any(|load| load.loaded_at.is_some());
    state.scan = Some(RunningScan {
        pending: [Stream::Contexts, Stream::Connectors, Stream::Connections].into(),
        staging: loaded_before.then(Data::default),
        ..RunningScan::default()
    });
    for load in &mut state.loads {
        load.loading = true;
    }
    vec![Effect::StartScan { generation: state.generation, catalog: state.catalog_url.is_none() }]
}

fn on_scan_event(state: &mut State, event: ScanEvent) -> Vec<Effect> {
    let Some(scan) = state.scan.as_mut() else { return Vec::new() };
    let progressive = scan.staging.is_none();
    let sink = scan.staging.as_mut().unwrap_or(&mut state.data);
    match event {
        ScanEvent::Catalog(Ok(url)) => {
            state.catalog_url = Some(url);
            state.catalog_error = None;
        }
        ScanEvent::Catalog(Err(error)) => state.catalog_error = Some(error),
        ScanEvent::ContextsPage(contexts) => {
            scan.contexts_seen += contexts.len();
            sink.add_contexts(contexts);
            if progressive {
                state.rebuild_contexts();
                state.rebuild_connections();
            }
        }
        ScanEvent::ConnectorsPage(connectors) => {
            sink.add_connectors(connectors);
            if progressive {
                state.rebuild_connectors();
                state.rebuild_connections();
            }
        }
        ScanEvent::ConnectionsPage { connections, fallback } => {
            scan.connections_seen += connections.len();
            state.fallback = fallback;
            if progressive {
                show_connections(state, connections);
            } else {
                sink.add_connections(connections);
            }
        }
        ScanEvent::Finished { stream, result } => {
            scan.pending.remove(&stream);
            let now = Utc::now();
            let load = &mut state.loads[State::slot(pane_of(stream))];
            load.loading = false;
            let mut news = None;
            match result {
                Ok(()) => {
                    load.loaded_at = Some(now);
                    load.error = None;
                }
                Err(error) => {
                    let since = load.error.as_ref().map_or(now, |(since, _)| *since);
                    // A new failure also goes to the status line, whose width holds the whole
                    // message (a pane's title clips it): a limit reached says how to raise it.
                    if load.error.as_ref().is_none_or(|(_, previous)| *previous != error) {
                        news = Some(error.clone());
                    }
                    load.error = Some((since, error));
                    scan.failed = true;
                }
            }
            let done = scan.pending.is_empty();
            if let Some(error) = news {
                flash(state, error, true);
            }
            if done {
                return finish_scan(state);
            }
        }
    }
    Vec::new()
}

/// Puts connections on screen: a first load's pages and forced refreshes both come this way, so
/// health, counts, totals, triage and the filtered views follow in one place.
fn show_connections(state: &mut State, connections: Vec<Connection>) {
    state.data.add_connections(connections);
    state.rebuild_views();
}

fn pane_of(stream: Stream) -> Pane {
    match stream {
        Stream::Contexts => Pane::Contexts,
        Stream::Connectors => Pane::Connectors,
        Stream::Connections => Pane::Connections,
    }
}

/// Swaps in a refresh's staged data (keeping the previous data of any list that failed, so a
/// failing refresh leaves the screen stale rather than empty) and schedules the next scan.
fn finish_scan(state: &mut State) -> Vec<Effect> {
    let Some(scan) = state.scan.take() else { return Vec::new() };
    let selection = state.selection();
    if let Some(staged) = scan.staging {
        let fresh = [Pane::Contexts, Pane::Connectors, Pane::Connections].map(|pane| state.load(pane).error.is_none());
        if fresh == [true; 3] {
            // The staged data was indexed as it arrived: swap it in as is (indexing 100,000
            // connections again here froze the screen for a quarter of a second).
            state.data = staged;
        } else {
            let old = std::mem::take(&mut state.data);
            let contexts = if fresh[0] { staged.contexts } else { old.contexts };
            let connectors = if fresh[1] { staged.connectors } else { old.connectors };
            let connections = if fresh[2] { staged.connections } else { old.connections };
            state.data = Data::from_parts(contexts, connectors, connections);
        }
    }
    state.data.adopt_referenced();
    state.rebuild_views_keeping(selection);
    let delay = if scan.failed {
        state.failures += 1;
        FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(state.failures - 1)).min(MAX_BACKOFF)
    } else {
        state.failures = 0;
        state.settings.refresh
    };
    vec![Effect::ScheduleRefresh(delay)]
}

fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return quit(state);
    }
    match &mut state.mode {
        Mode::Browse => match state.keymap.command_for(&key) {
            Some(command) => on_command(state, command),
            None => {
                state.needs_redraw = false;
                Vec::new()
            }
        },
        Mode::Filter(input) => match key.code {
            KeyCode::Enter => {
                state.mode = Mode::Browse;
                Vec::new()
            }
            KeyCode::Esc => {
                state.mode = Mode::Browse;
                set_filter(state, String::new());
                Vec::new()
            }
            _ => {
                if input.handle_event(&crossterm::event::Event::Key(key)).is_some() {
                    let text = input.value().to_owned();
                    set_filter(state, text);
                }
                Vec::new()
            }
        },
        Mode::Help { scroll } => {
            let scroll = *scroll;
            let last = ui::help_max_scroll(state);
            state.mode = match key.code {
                KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?') => Mode::Browse,
                KeyCode::Down | KeyCode::Char('j') => Mode::Help { scroll: scroll.saturating_add(1).min(last) },
                KeyCode::Up | KeyCode::Char('k') => Mode::Help { scroll: scroll.saturating_sub(1) },
                KeyCode::PageDown | KeyCode::Char(' ') => Mode::Help { scroll: scroll.saturating_add(10).min(last) },
                KeyCode::PageUp => Mode::Help { scroll: scroll.saturating_sub(10) },
                _ => Mode::Help { scroll },
            };
            Vec::new()
        }
        Mode::Mint(form) => {
            let (effects, close) = on_mint_key(form, key);
            if close {
                state.mode = Mode::Browse;
            }
            effects
        }
        Mode::Minted(minted) => match key.code {
            KeyCode::Char('v') => {
                minted.revealed = !minted.revealed;
                Vec::new()
            }
            KeyCode::Char('y' | 'c') => {
                let token = minted.token.expose_secret().to_owned();
                flash(state, "token copied to the clipboard (OSC 52)", false);
                vec![Effect::Copy(token)]
            }
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                state.mode = Mode::Browse;
                Vec::new()
            }
            _ => Vec::new(),
        },
        Mode::Url { url, revealed, .. } => match key.code {
            KeyCode::Char('v') => {
                *revealed = !*revealed;
                Vec::new()
            }
            KeyCode::Char('y' | 'c') => {
                let url = url.clone();
                flash(state, "URL copied to the clipboard (OSC 52)", false);
                vec![Effect::Copy(url)]
            }
            KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q') => {
                state.mode = Mode::Browse;
                Vec::new()
            }
            _ => Vec::new(),
        },
    }
}

/// Keys of the mint form; returns the effects and whether the form closes.
fn on_mint_key(form: &mut MintForm, key: KeyEvent) -> (Vec<Effect>, bool) {
    if key.code == KeyCode::Esc {
        return (Vec::new(), true);
    }
    if form.submitting {
        return (Vec::new(), false);
    }
    let fields = form.fields.len();
    match key.code {
        KeyCode::Tab | KeyCode::Down => form.focus = (form.focus + 1) % fields,
        KeyCode::BackTab | KeyCode::Up => form.focus = (form.focus + fields - 1) % fields,
        KeyCode::Enter => match form.to_context() {
            Ok(context) => {
                form.submitting = true;
                form.server_error = None;
                return (vec![Effect::Mint(context)], false);
            }
            Err(_) => {
                if let Some(first) = form.field_errors().iter().position(Option::is_some) {
                    form.focus = first;
                }
            }
        },
        _ => {
            let field: &mut Input = &mut form.fields[form.focus];
            field.handle_event(&crossterm::event::Event::Key(key));
            form.server_error = None;
        }
    }
    (Vec::new(), false)
}

/// The list a command acts on: the detail pane moves through the connections.
fn list_pane(focus: Pane) -> Pane {
    if focus == Pane::Detail { Pane::Connections } else { focus }
}

fn set_filter(state: &mut State, text: String) {
    let pane = list_pane(state.focus);
    state.filters[State::slot(pane)] = text;
    match pane {
        Pane::Contexts => state.rebuild_contexts(),
        Pane::Connectors => state.rebuild_connectors(),
        _ => {}
    }
    state.rebuild_connections();
}

fn on_command(state: &mut State, command: Command) -> Vec<Effect> {
    let pane = list_pane(state.focus);
    let rows = list_rows(state.size, pane);
    let moved = |state: &mut State, step: &dyn Fn(&mut super::state::ListView)| {
        if let Some(list) = state.list_mut(pane) {
            step(list);
        }
        if matches!(pane, Pane::Contexts | Pane::Connectors) {
            state.driver = pane;
            state.triage = false;
            state.rebuild_connections();
        }
    };
    let page = rows as isize;
    match command {
        Command::MoveDown => moved(state, &|list| list.move_by(1, rows)),
        Command::MoveUp => moved(state, &|list| list.move_by(-1, rows)),
        Command::Top => moved(state, &|list| list.select(0, rows)),
        Command::Bottom => moved(state, &|list| list.select(usize::MAX, rows)),
        Command::PageDown => moved(state, &|list| list.move_by(page, rows)),
        Command::PageUp => moved(state, &|list| list.move_by(-page, rows)),
        Command::NextPane | Command::PrevPane => {
            let position = Pane::ALL.iter().position(|candidate| *candidate == state.focus).unwrap_or(0);
            let step = if command == Command::NextPane { 1 } else { Pane::ALL.len() - 1 };
            state.focus = Pane::ALL[(position + step) % Pane::ALL.len()];
        }
        Command::DrillIn => match state.focus {
            Pane::Contexts | Pane::Connectors => {
                state.driver = state.focus;
                state.triage = false;
                state.rebuild_connections();
                state.focus = Pane::Connections;
            }
            Pane::Connections => state.focus = Pane::Detail,
            Pane::Detail => state.needs_redraw = false,
        },
        Command::Back => {
            if !state.filter_text(pane).is_empty() {
                set_filter(state, String::new());
            } else {
                match state.focus {
                    Pane::Detail => state.focus = Pane::Connections,
                    Pane::Connections if state.triage => {
                        state.triage = false;
                        state.rebuild_connections();
                        state.focus = state.driver;
                    }
                    Pane::Connections => state.focus = state.driver,
                    Pane::Contexts | Pane::Connectors => state.flash = None,
                }
            }
        }
        Command::Filter => state.mode = Mode::Filter(Input::new(state.filter_text(pane).to_owned())),
        Command::Triage => {
            state.triage = !state.triage;
            state.rebuild_connections();
            if state.triage {
                state.focus = Pane::Connections;
                let count = state.data.needing_attention().len();
                flash(state, format!("triage: {count} connections need attention across all contexts"), false);
            } else {
                state.focus = state.driver;
                state.flash = None;
            }
        }
        Command::Refresh => {
            if state.scan.is_some() {
                flash(state, "a refresh is already running", false);
            } else {
                return start_scan(state);
            }
        }
        Command::RefreshConnection => return refresh_connection(state),
        Command::OpenRepair => return open_repair(state),
        Command::Copy => {
            let text = match state.focus {
                Pane::Contexts => state.selected_context().map(|context| context.external_id.clone()),
                Pane::Connectors => state.selected_connector().map(|connector| connector.slug.clone()),
                Pane::Connections => state.selected_connection().map(|connection| connection.id.clone()),
                Pane::Detail => state.selected_connection().map(|connection| {
                    state.catalog_connector_url(&connection.connector.slug).unwrap_or_else(|| connection.id.clone())
                }),
            };
            match text {
                Some(text) => {
                    flash(state, format!("copied {} (OSC 52)", crate::sanitize::for_terminal(&text)), false);
                    return vec![Effect::Copy(text)];
                }
                None => flash(state, "nothing selected to copy", true),
            }
        }
        Command::Mint => {
            let external_id = match state.focus {
                Pane::Connectors => None,
                Pane::Contexts => state.selected_context().map(|context| context.external_id.clone()),
                Pane::Connections | Pane::Detail => state
                    .selected_connection()
                    .and_then(|connection| connection.context.as_ref())
                    .map(|context| context.external_id.clone()),
            };
            state.mode = Mode::Mint(MintForm::new(external_id.as_deref()));
        }
        Command::Help => state.mode = Mode::Help { scroll: 0 },
        Command::Quit => return quit(state),
    }
    Vec::new()
}

/// `slack, org_acme`: which connection a message is about.
fn describe(connection: &Connection) -> String {
    let context = connection.context.as_ref().map_or("?", |context| context.external_id.as_str());
    for_terminal(&format!("{}, {context}", connection.connector.slug))
}

/// `f`: asks the provider for a new token of the selected connection now (the forced-refresh
/// extension), so a revoked grant shows at once rather than on the next read. Only from the
/// connections or detail pane: a mutating key acts on what the user is looking at.
fn refresh_connection(state: &mut State) -> Vec<Effect> {
    let selected = match state.focus {
        Pane::Connections | Pane::Detail => state.selected_connection(),
        Pane::Contexts | Pane::Connectors => None,
    };
    let Some(connection) = selected else {
        flash(state, "select a connection first (enter drills into the connections)", true);
        return Vec::new();
    };
    let (id, name) = (connection.id.clone(), describe(connection));
    if !state.refreshing.insert(id.clone()) {
        flash(state, format!("already refreshing {name}"), false);
        return Vec::new();
    }
    flash(state, format!("refreshing {name}…"), false);
    vec![Effect::RefreshConnection { id }]
}

/// A forced refresh answered: the connection replaces its listed self and the status line says
/// what the provider did.
fn on_refreshed(state: &mut State, id: &str, result: Result<Box<Connection>, ClientError>) -> Vec<Effect> {
    state.refreshing.remove(id);
    let listed = state.data.connection_position(id).map(|position| state.data.connections[position].clone());
    match result {
        Ok(mut connection) => {
            if let Some(authorization) = connection.authorization.as_mut() {
                // The answer carries the credential; the dashboard never holds one.
                authorization.credential = None;
                authorization.access_token = None;
            }
            if connection.context.is_none() {
                // Single-connection answers do not name their context; the listing did.
                connection.context = listed.and_then(|listed| listed.context);
            }
            let (outcome, failed) = refresh_outcome(&connection, Utc::now());
            flash(state, format!("{outcome} ({})", describe(&connection)), failed);
            // A refresh scan in flight may have read the old connection: its swap must not undo this.
            if let Some(staging) = state.scan.as_mut().and_then(|scan| scan.staging.as_mut()) {
                staging.add_connections(vec![(*connection).clone()]);
            }
            show_connections(state, vec![*connection]);
        }
        Err(error) => {
            let name = listed.as_ref().map_or_else(|| for_terminal(id), describe);
            flash(state, format!("{} ({name})", refresh_failure(&error)), true);
        }
    }
    Vec::new()
}

/// What a forced refresh did, as the status line says it, and whether that is a failure.
fn refresh_outcome(connection: &Connection, now: chrono::DateTime<Utc>) -> (String, bool) {
    let health = Health::of(Some(connection));
    let Some(authorization) = &connection.authorization else {
        return (format!("refreshed: {}", health.word()), health.needs_attention());
    };
    if authorization.status == AuthorizationStatus::Error {
        let code = authorization.error_code.as_deref().unwrap_or("error");
        let reason = match &authorization.error_message {
            Some(message) => format!("{code}: {message}"),
            None => code.to_owned(),
        };
        return (format!("refresh failed: {}", for_terminal(&reason)), true);
    }
    if let Some(problem) = &authorization.refresh_error {
        let problem = for_terminal(problem);
        return (format!("refresh failed, the provider did not answer (token kept, retried later): {problem}"), true);
    }
    let expiry = authorization.expires_at.map(|at| format!(", expires {}", relative_time(at, now))).unwrap_or_default();
    (format!("refreshed: {}{expiry}", health.word()), health.needs_attention())
}

/// A refused forced refresh in a person's words, including the answers of servers without it.
fn refresh_failure(error: &ClientError) -> String {
    let text = match error {
        ClientError::Api { status: 409, message } => format!("cannot refresh: {message}"),
        ClientError::Transient { status: 429, retry_after: Some(wait), .. } => {
            let wait = humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)));
            format!("refresh postponed: the provider asked to wait {wait}; press the key again then")
        }
        ClientError::Transient { status: 429, message, .. } => format!("refresh postponed (rate limited): {message}"),
        ClientError::NotFound(message) => {
            format!("cannot refresh: the connection is gone, or this server has no forced refresh ({message})")
        }
        ClientError::Api { status: status @ (405 | 501), .. } => {
            format!("cannot refresh: this server does not support forced refresh ({status})")
        }
        other => format!("refresh failed: {other}"),
    };
    for_terminal(&text)
}

/// `o`: the repair page of the selected connection (or the catalog page of the selected
/// connector). On xkit-dash's own server, and unless read-only (a repair link is minted
/// server-side), the server is asked for a ready repair link first.
fn open_repair(state: &mut State) -> Vec<Effect> {
    let (slug, external_id) = if state.focus == Pane::Connectors {
        match state.selected_connector() {
            Some(connector) => (connector.slug.clone(), None),
            None => {
                flash(state, "select a connector first", true);
                return Vec::new();
            }
        }
    } else {
        match state.selected_connection() {
            Some(connection) => (
                connection.connector.slug.clone(),
                connection.context.as_ref().map(|context| context.external_id.clone()),
            ),
            None => {
                flash(state, "select a connection first", true);
                return Vec::new();
            }
        }
    };
    let link = external_id.filter(|_| state.target.bundled && !state.target.read_only).map(|id| (id, slug.clone()));
    let fallback = state.catalog_connector_url(&slug);
    if link.is_none() && fallback.is_none() {
        let why = state.catalog_error.clone().unwrap_or_else(|| "not loaded yet".to_owned());
        flash(state, format!("the catalog URL is unknown ({why}); set catalog_url in the profile"), true);
        return Vec::new();
    }
    flash(state, format!("opening the repair page for {}…", crate::sanitize::for_terminal(&slug)), false);
    vec![Effect::OpenRepair { link, fallback }]
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use secrecy::ExposeSecret;

    use super::*;
    use crate::model::Health;
    use crate::tui::fixtures::{self, CATALOG, code, key, loaded_state, new_state, press};
    use crate::tui::mint::MintedToken;
    use crate::tui::state::Scope;

    const SIZE: (u16, u16) = (120, 40);

    fn scan(state: &mut State, event: ScanEvent) -> Vec<Effect> {
        let generation = state.generation;
        update(state, Action::Scan { generation, event })
    }

    fn finish_all(state: &mut State, connections: Result<(), String>) -> Vec<Effect> {
        scan(state, ScanEvent::Finished { stream: Stream::Contexts, result: Ok(()) });
        scan(state, ScanEvent::Finished { stream: Stream::Connectors, result: Ok(()) });
        scan(state, ScanEvent::Finished { stream: Stream::Connections, result: connections })
    }

    fn listed_ids(state: &State) -> Vec<&str> {
        state.connections.index.iter().map(|&position| state.data.connections[position].id.as_str()).collect()
    }

    #[test]
    fn the_first_scan_fills_panes_progressively_then_schedules_the_refresh() {
        let mut state = new_state(SIZE);
        assert_eq!(update(&mut state, Action::Start), vec![Effect::StartScan { generation: 1, catalog: false }]);
        assert!(state.is_loading() && state.loads.iter().all(|load| load.loading));
        scan(&mut state, ScanEvent::ContextsPage(fixtures::contexts()));
        assert_eq!(state.contexts.len(), 3, "pages show before the scan ends");
        assert_eq!(state.scope, Scope::Context("org_acme".into()));
        scan(&mut state, ScanEvent::ConnectionsPage { connections: fixtures::connections(), fallback: false });
        assert_eq!(listed_ids(&state), ["c-acme-slack", "c-acme-github", "c-acme-drive"]);
        scan(&mut state, ScanEvent::Finished { stream: Stream::Contexts, result: Ok(()) });
        let effects = scan(&mut state, ScanEvent::Finished { stream: Stream::Connections, result: Ok(()) });
        assert!(effects.is_empty(), "the connectors stream is still running");
        let effects = scan(&mut state, ScanEvent::Finished { stream: Stream::Connectors, result: Ok(()) });
        assert_eq!(effects, vec![Effect::ScheduleRefresh(state.settings.refresh)]);
        // Connectors were never listed: they are adopted from the connections.
        assert_eq!(state.data.connectors.len(), 3);
        assert!(state.scan.is_none());
        assert!(state.loads.iter().all(|load| load.loaded_at.is_some() && !load.loading));
    }

    #[test]
    fn a_refresh_never_runs_twice_at_once() {
        let mut state = new_state(SIZE);
        update(&mut state, Action::Start);
        assert!(update(&mut state, Action::RefreshTick).is_empty(), "a tick during a scan is dropped");
        assert!(update(&mut state, key('r')).is_empty());
        assert_eq!(state.flash.as_ref().unwrap().text, "a refresh is already running");
        finish_all(&mut state, Ok(()));
        assert_eq!(update(&mut state, key('r')), vec![Effect::StartScan { generation: 2, catalog: false }]);
    }

    #[test]
    fn failures_back_off_and_leave_stale_data_on_screen() {
        let mut state = loaded_state(SIZE);
        let loaded_at = state.loads[2].loaded_at;
        update(&mut state, Action::RefreshTick);
        scan(&mut state, ScanEvent::ContextsPage(vec![fixtures::context("org_new", "New")]));
        assert_eq!(state.data.contexts.len(), 3, "a refresh stages its pages instead of flickering");
        let effects = finish_all(&mut state, Err("cannot reach the server: request timed out".into()));
        assert_eq!(effects, vec![Effect::ScheduleRefresh(FIRST_BACKOFF)]);
        // Contexts succeeded and are swapped in; the failed connections keep their last data
        // (and the contexts they refer to).
        assert_eq!(state.data.contexts[0].external_id, "org_new");
        assert_eq!(state.data.connections.len(), 6);
        let load = &state.loads[2];
        assert_eq!(load.loaded_at, loaded_at);
        let (since, error) = load.error.clone().unwrap();
        assert!(error.contains("timed out"));
        update(&mut state, Action::RefreshTick);
        let effects = finish_all(&mut state, Err("still down".into()));
        assert_eq!(effects, vec![Effect::ScheduleRefresh(FIRST_BACKOFF * 2)]);
        assert_eq!(state.loads[2].error.as_ref().unwrap().0, since, "stale since the first failure");
        update(&mut state, Action::RefreshTick);
        assert_eq!(finish_all(&mut state, Ok(())), vec![Effect::ScheduleRefresh(state.settings.refresh)]);
        assert_eq!(state.failures, 0);
        assert!(state.loads[2].error.is_none());
    }

    #[test]
    fn a_refresh_keeps_the_selection_by_identity() {
        let mut state = loaded_state(SIZE);
        press(&mut state, "j");
        update(&mut state, Action::RefreshTick);
        let globex = fixtures::context("org_globex", "Globex Industries");
        scan(&mut state, ScanEvent::ContextsPage(vec![fixtures::context("org_aaa", "First"), globex]));
        scan(&mut state, ScanEvent::ConnectionsPage { connections: fixtures::connections(), fallback: false });
        finish_all(&mut state, Ok(()));
        assert_eq!(state.selected_context().unwrap().external_id, "org_globex");
        assert_eq!(state.scope, Scope::Context("org_globex".into()));
        // A refresh that lists nothing empties the panes without losing its footing.
        update(&mut state, Action::RefreshTick);
        finish_all(&mut state, Ok(()));
        assert!(state.data.contexts.is_empty() && state.selected_context().is_none());
        assert_eq!(state.scope, Scope::Nothing);
    }

    #[test]
    fn results_of_an_old_scan_are_ignored() {
        let mut state = loaded_state(SIZE);
        let old = state.generation;
        update(&mut state, Action::RefreshTick);
        let event = ScanEvent::ContextsPage(vec![fixtures::context("ghost", "Ghost")]);
        update(&mut state, Action::Scan { generation: old, event });
        assert!(!state.needs_redraw);
        assert!(state.scan.as_ref().unwrap().staging.as_ref().unwrap().contexts.is_empty());
    }

    #[test]
    fn panes_cycle_drill_in_and_back_out() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(state.focus, Pane::Connectors);
        update(&mut state, code(KeyCode::BackTab));
        assert_eq!(state.focus, Pane::Contexts);
        update(&mut state, key('j'));
        assert_eq!(state.scope, Scope::Context("org_globex".into()));
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.focus, Pane::Connections);
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.focus, Pane::Detail);
        update(&mut state, key('k'));
        assert_eq!(state.selected_connection().unwrap().id, "c-globex-slack", "the detail pane moves the connection");
        update(&mut state, code(KeyCode::Esc));
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.focus, Pane::Contexts);
        // Drilling into a connector lists its connections across contexts.
        update(&mut state, code(KeyCode::Tab));
        press(&mut state, "G");
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.scope, Scope::Connector("google-drive".into()));
        assert_eq!(listed_ids(&state), ["c-acme-drive"]);
    }

    #[test]
    fn triage_lists_exactly_the_connections_needing_attention() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('t'));
        assert_eq!(state.scope, Scope::Triage);
        assert_eq!(state.focus, Pane::Connections);
        assert_eq!(listed_ids(&state), ["c-acme-drive", "c-globex-github", "c-evil-slack"]);
        for connection in state.connections.index.iter().map(|&position| &state.data.connections[position]) {
            assert!(Health::of(Some(connection)).needs_attention());
        }
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.scope, Scope::Context("org_acme".into()));
    }

    #[test]
    fn the_filter_narrows_live_and_esc_clears_it() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('/'));
        press(&mut state, "status:error");
        assert!(matches!(state.mode, Mode::Filter(_)));
        let ids: Vec<&str> =
            state.contexts.index.iter().map(|&p| state.data.contexts[p].external_id.as_str()).collect();
        assert_eq!(ids, ["org_acme", "org_evil"]);
        press(&mut state, "q");
        assert!(!state.quit, "typing q into the filter does not quit");
        update(&mut state, code(KeyCode::Backspace));
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.filter_text(Pane::Contexts), "status:error");
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.filter_text(Pane::Contexts), "");
        assert_eq!(state.contexts.len(), 3);
    }

    #[test]
    fn open_asks_the_bundled_server_then_falls_back_to_the_catalog() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Enter));
        press(&mut state, "jj");
        let effects = update(&mut state, key('o'));
        let fallback = Some(format!("{CATALOG}/connectors/google-drive"));
        assert_eq!(
            effects,
            vec![Effect::OpenRepair {
                link: Some(("org_acme".into(), "google-drive".into())),
                fallback: fallback.clone()
            }]
        );
        state.target.read_only = true;
        assert_eq!(update(&mut state, key('o')), vec![Effect::OpenRepair { link: None, fallback }]);
        state.catalog_url = None;
        state.catalog_error = Some("no platform record".into());
        assert!(update(&mut state, key('o')).is_empty());
        assert!(state.flash.as_ref().unwrap().error);
    }

    #[test]
    fn a_browser_failure_shows_the_url_and_copies_it() {
        let mut state = loaded_state(SIZE);
        let url = format!("{CATALOG}/connectors/slack");
        let effects =
            update(&mut state, Action::BrowserOpened { url: url.clone(), result: Err("no browser found".into()) });
        assert_eq!(effects, vec![Effect::Copy(url.clone())]);
        assert!(matches!(&state.mode, Mode::Url { url: shown, .. } if *shown == url));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy(url)]);
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));
    }

    #[test]
    fn help_scrolls_when_it_does_not_fit_and_stops_at_its_end() {
        let mut state = loaded_state((80, 12));
        update(&mut state, key('?'));
        let last = ui::help_max_scroll(&state);
        assert!(last > 0, "12 rows cannot hold every key");
        for _ in 0..100 {
            update(&mut state, key('j'));
        }
        assert!(matches!(state.mode, Mode::Help { scroll } if scroll == last));
        update(&mut state, key('k'));
        assert!(matches!(state.mode, Mode::Help { scroll } if scroll == last - 1));
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));

        let mut roomy = loaded_state(SIZE);
        update(&mut roomy, key('?'));
        assert_eq!(ui::help_max_scroll(&roomy), 0, "40 rows hold every key");
        update(&mut roomy, key('j'));
        assert!(matches!(roomy.mode, Mode::Help { scroll: 0 }));
    }

    #[test]
    fn repair_tokens_stay_masked_on_screen_until_revealed() {
        let mut state = loaded_state(SIZE);
        let url = format!("{CATALOG}/connectors/slack?token=xkrt_secret123");
        update(&mut state, Action::BrowserOpened { url: url.clone(), result: Ok(()) });
        let status = &state.flash.as_ref().unwrap().text;
        assert!(status.contains("/connectors/slack?token=") && !status.contains("xkrt_secret123"), "{status}");

        let effects = update(&mut state, Action::BrowserOpened { url: url.clone(), result: Err("no display".into()) });
        assert_eq!(effects, vec![Effect::Copy(url.clone())], "the clipboard gets the whole URL");
        assert!(matches!(state.mode, Mode::Url { revealed: false, .. }));
        update(&mut state, key('v'));
        assert!(matches!(state.mode, Mode::Url { revealed: true, .. }));
        assert_eq!(
            masked_url("http://h/connectors/s?a=1&token=abc&b=2"),
            "http://h/connectors/s?a=1&token=••••••••&b=2"
        );
        assert_eq!(masked_url("http://h/connectors/s"), "http://h/connectors/s");
    }

    #[test]
    fn copy_takes_what_the_focused_pane_selects() {
        let mut state = loaded_state(SIZE);
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("org_acme".into())]);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("slack".into())]);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("c-acme-slack".into())]);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy(format!("{CATALOG}/connectors/slack"))]);
    }

    #[test]
    fn minting_validates_submits_and_masks_the_token() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('m'));
        let Mode::Mint(form) = &state.mode else { panic!("the form opens") };
        assert_eq!(form.fields[0].value(), "org_acme", "prefilled from the selection");
        update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('u'), KeyModifiers::CONTROL)));
        assert!(update(&mut state, code(KeyCode::Enter)).is_empty(), "an empty id is refused");
        press(&mut state, "tenant-1");
        update(&mut state, code(KeyCode::Tab));
        update(&mut state, code(KeyCode::Tab));
        press(&mut state, "plan=pro");
        let effects = update(&mut state, code(KeyCode::Enter));
        let [Effect::Mint(context)] = effects.as_slice() else { panic!("{effects:?}") };
        assert_eq!(context.external_id, "tenant-1");
        assert_eq!(context.attributes.get("plan"), Some(&serde_json::json!("pro")));
        assert!(state.is_loading());
        update(&mut state, Action::Minted(Err("server error 422: external_id too long".into())));
        let Mode::Mint(form) = &state.mode else { panic!("the form stays open on failure") };
        assert!(form.server_error.as_deref().unwrap().contains("422"));
        update(&mut state, Action::Minted(Ok(MintedToken::new("tenant-1".into(), "tok-123".into()))));
        let Mode::Minted(minted) = &state.mode else { panic!("the token shows") };
        assert!(!minted.revealed);
        update(&mut state, key('v'));
        assert!(matches!(&state.mode, Mode::Minted(minted) if minted.revealed));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("tok-123".into())]);
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));
        if let Mode::Minted(minted) = &state.mode {
            panic!("token kept after closing: {}", minted.token.expose_secret());
        }
    }

    /// The connection a forced refresh answers with: the single-connection route's shape (no
    /// context, the credential included).
    fn answered(status: &str, change: impl FnOnce(&mut crate::model::Authorization)) -> Connection {
        let mut connection = fixtures::connections().remove(0);
        connection.context = None;
        let authorization = connection.authorization.as_mut().unwrap();
        authorization.status = AuthorizationStatus::parse(status);
        authorization.credential = Some("new-secret-token".into());
        authorization.access_token = Some("new-secret-token".into());
        change(authorization);
        connection
    }

    fn refreshed(state: &mut State, result: Result<Connection, ClientError>) {
        update(state, Action::ConnectionRefreshed { id: "c-acme-slack".into(), result: result.map(Box::new) });
    }

    fn flash_of(state: &State) -> (&str, bool) {
        let flash = state.flash.as_ref().expect("a status line message");
        (flash.text.as_str(), flash.error)
    }

    #[test]
    fn f_refreshes_the_selected_connection_and_its_answer_replaces_it_everywhere() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(update(&mut state, key('f')), vec![Effect::RefreshConnection { id: "c-acme-slack".into() }]);
        assert_eq!(flash_of(&state), ("refreshing slack, org_acme…", false));
        assert!(update(&mut state, key('f')).is_empty(), "one refresh of a connection at a time");
        assert_eq!(flash_of(&state), ("already refreshing slack, org_acme", false));
        let (active, errors) = (state.data.totals.get(Health::Active), state.data.totals.get(Health::Error));
        let slack_errors = state.data.connector_counts("slack").get(Health::Error);

        // The grant was revoked: the provider's invalid_grant turns the connection red.
        refreshed(
            &mut state,
            Ok(answered("error", |authorization| {
                authorization.error_code = Some("invalid_grant".into());
                authorization.error_message = Some("the grant has been revoked".into());
                authorization.credential = None;
                authorization.access_token = None;
            })),
        );
        assert_eq!(
            flash_of(&state),
            ("refresh failed: invalid_grant: the grant has been revoked (slack, org_acme)", true)
        );
        assert!(state.refreshing.is_empty());
        let connection = state.selected_connection().unwrap();
        assert_eq!(connection.id, "c-acme-slack", "the selection stays on the refreshed connection");
        assert_eq!(Health::of(Some(connection)), Health::Error);
        assert_eq!(connection.context.as_ref().unwrap().external_id, "org_acme", "the listing's context is kept");
        assert_eq!(state.data.connections.len(), 6, "replaced, not added");
        assert_eq!(
            (state.data.totals.get(Health::Active), state.data.totals.get(Health::Error)),
            (active - 1, errors + 1)
        );
        assert_eq!(state.data.connector_counts("slack").get(Health::Error), slack_errors + 1);
        assert_eq!(state.data.context_health("org_acme"), Some(Health::Error));
        update(&mut state, key('/'));
        press(&mut state, "status:error");
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(listed_ids(&state), ["c-acme-slack", "c-acme-drive"], "the filter sees the new health");
        update(&mut state, code(KeyCode::Esc));
        update(&mut state, key('t'));
        assert!(listed_ids(&state).contains(&"c-acme-slack"), "triage lists it");
        update(&mut state, key('t'));

        // Repaired and refreshed again: green, with the new expiry, and no credential kept.
        update(&mut state, key('f'));
        let expires_at = Utc::now() + chrono::Duration::seconds(59 * 60 + 30);
        refreshed(&mut state, Ok(answered("active", |authorization| authorization.expires_at = Some(expires_at))));
        assert_eq!(flash_of(&state), ("refreshed: active, expires in 59m (slack, org_acme)", false));
        let connection = state.selected_connection().unwrap();
        assert_eq!(Health::of(Some(connection)), Health::Active);
        let authorization = connection.authorization.as_ref().unwrap();
        assert_eq!((authorization.credential.as_ref(), authorization.access_token.as_ref()), (None, None));
        assert_eq!(authorization.expires_at, Some(expires_at));
        assert_eq!((state.data.totals.get(Health::Active), state.data.totals.get(Health::Error)), (active, errors));
    }

    #[test]
    fn a_refresh_answer_survives_the_swap_of_a_scan_that_read_the_old_connection() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Enter));
        update(&mut state, key('f'));
        update(&mut state, Action::RefreshTick);
        scan(&mut state, ScanEvent::ContextsPage(fixtures::contexts()));
        scan(&mut state, ScanEvent::ConnectionsPage { connections: fixtures::connections(), fallback: false });
        refreshed(
            &mut state,
            Ok(answered("error", |authorization| authorization.error_code = Some("invalid_grant".into()))),
        );
        assert_eq!(Health::of(state.selected_connection()), Health::Error, "shown at once, mid-scan");
        finish_all(&mut state, Ok(()));
        assert_eq!(Health::of(state.selected_connection()), Health::Error, "the staged old connection did not win");
    }

    #[test]
    fn f_wants_a_connection_and_explains_every_refusal() {
        let mut state = loaded_state(SIZE);
        assert!(update(&mut state, key('f')).is_empty(), "the contexts pane has focus");
        assert!(flash_of(&state).1);
        update(&mut state, code(KeyCode::Enter));
        let before = state.data.connections.clone();
        let refusals = [
            (
                ClientError::Api { status: 409, message: "no refresh token".into() },
                "cannot refresh: no refresh token (slack, org_acme)",
            ),
            (
                ClientError::Transient {
                    status: 429,
                    message: "slow down".into(),
                    retry_after: Some(Duration::from_secs(30)),
                },
                "refresh postponed: the provider asked to wait 30s; press the key again then (slack, org_acme)",
            ),
            (
                ClientError::NotFound("no route for /api/platform/connections/c-acme-slack/refresh".into()),
                "cannot refresh: the connection is gone, or this server has no forced refresh (no route for",
            ),
            (
                ClientError::Api { status: 501, message: "Not Implemented".into() },
                "cannot refresh: this server does not support forced refresh (501) (slack, org_acme)",
            ),
            (
                ClientError::Unreachable("request timed out".into()),
                "refresh failed: cannot reach the server: request timed out (slack, org_acme)",
            ),
        ];
        for (error, expected) in refusals {
            assert_eq!(update(&mut state, key('f')).len(), 1);
            refreshed(&mut state, Err(error));
            let (text, failed) = flash_of(&state);
            assert!(text.starts_with(expected) && failed, "{text}");
            assert!(state.refreshing.is_empty(), "f works again after a refusal");
        }
        assert_eq!(state.data.connections, before, "a refusal changes nothing on screen");

        // A provider outage keeps the connection and says so.
        update(&mut state, key('f'));
        refreshed(
            &mut state,
            Ok(answered("active", |authorization| authorization.refresh_error = Some("timeout\u{1b}[2J".into()))),
        );
        let (text, failed) = flash_of(&state);
        assert!(failed && text.contains("did not answer") && text.contains("timeout^[[2J"), "{text}");
        assert_eq!(Health::of(state.selected_connection()), Health::Active);
    }

    #[test]
    fn read_only_has_no_mint_key() {
        let mut state = loaded_state(SIZE);
        state.keymap = crate::tui::keymap::Keymap::new(&Default::default(), true).unwrap();
        assert!(update(&mut state, key('m')).is_empty());
        update(&mut state, code(KeyCode::Enter));
        assert!(update(&mut state, key('f')).is_empty(), "no forced refresh either");
        assert!(matches!(state.mode, Mode::Browse));
    }

    #[test]
    fn ctrl_c_quits_from_any_mode() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('/'));
        let effects = update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert_eq!(effects, vec![Effect::Quit]);
        assert!(state.quit);
    }

    #[test]
    fn idle_inputs_do_not_redraw() {
        let mut state = loaded_state(SIZE);
        state.needs_redraw = false;
        update(&mut state, key('z'));
        assert!(!state.needs_redraw, "an unbound key");
        update(&mut state, Action::SpinnerTick);
        assert!(!state.needs_redraw, "the spinner while nothing loads");
    }

    #[test]
    fn a_hundred_thousand_rows_scroll_by_window() {
        let mut state = new_state(SIZE);
        update(&mut state, Action::Start);
        let many = (0..100_000).map(|n| fixtures::context(&format!("ctx-{n:06}"), "Tenant")).collect();
        scan(&mut state, ScanEvent::ContextsPage(many));
        press(&mut state, "G");
        let rows = list_rows(SIZE, Pane::Contexts);
        assert_eq!(state.contexts.selected, 99_999);
        let (window, selected) = state.contexts.window(rows);
        assert_eq!(window.len(), rows);
        assert_eq!(selected, Some(rows - 1));
        update(&mut state, code(KeyCode::PageUp));
        assert_eq!(state.contexts.selected, 99_999 - rows);
        assert_eq!(state.contexts.offset, 99_999 - rows, "paging up scrolls by one window");
    }
}
