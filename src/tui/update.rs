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
use super::state::{Data, Flash, Mode, Pane, RunningScan, State};
use super::ui::layout::list_rows;

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
                flash(state, format!("opened {url}"), false);
                Vec::new()
            }
            Err(reason) => {
                state.mode = Mode::Url { url: url.clone(), reason };
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
            sink.add_connections(connections);
            state.fallback = fallback;
            if progressive {
                state.rebuild_views();
            }
        }
        ScanEvent::Finished { stream, result } => {
            scan.pending.remove(&stream);
            let now = Utc::now();
            let load = &mut state.loads[State::slot(pane_of(stream))];
            load.loading = false;
            match result {
                Ok(()) => {
                    load.loaded_at = Some(now);
                    load.error = None;
                }
                Err(error) => {
                    let since = load.error.as_ref().map_or(now, |(since, _)| *since);
                    load.error = Some((since, error));
                    scan.failed = true;
                }
            }
            if scan.pending.is_empty() {
                return finish_scan(state);
            }
        }
    }
    Vec::new()
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
    if let Some(staged) = scan.staging {
        let old = std::mem::take(&mut state.data);
        let fresh = |pane: Pane| state.load(pane).error.is_none();
        let contexts = if fresh(Pane::Contexts) { staged.contexts } else { old.contexts };
        let connectors = if fresh(Pane::Connectors) { staged.connectors } else { old.connectors };
        let connections = if fresh(Pane::Connections) { staged.connections } else { old.connections };
        state.data = Data::from_parts(contexts, connectors, connections);
    }
    state.data.adopt_referenced();
    state.rebuild_views();
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
        Mode::Help => {
            if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q' | '?')) {
                state.mode = Mode::Browse;
            }
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
        Mode::Url { url, .. } => match key.code {
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
        Command::Help => state.mode = Mode::Help,
        Command::Quit => return quit(state),
    }
    Vec::new()
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
