//! The remote-backed panes (`tui/remote.rs`): entering remote mode, taking in totals and pages,
//! refreshing, and, after every action, asking for what the screen now shows. The other
//! reducer modules do not know about it: moving, filtering and sorting change the views as
//! always, and [`follow_screen`] turns the views' windows into reads.

use std::time::Duration;

use chrono::Utc;

use crate::model::{ContextRef, PlatformStats};
use crate::tui::action::Effect;
use crate::tui::data::Data;
use crate::tui::remote::{Remote, RemoteEvent, RemoteRequest, TOTALS_EVERY};
use crate::tui::state::{Scope, State};

/// The platform is large and the server keeps totals: the panes read what they show.
pub(super) fn enter(state: &mut State, stats: PlatformStats) {
    tracing::info!(contexts = stats.contexts, connections = stats.connections, "remote-backed panes");
    state.remote = Some(Box::new(Remote::new(stats)));
    state.rebuild_views();
}

/// After every action: the pages, totals and connections the screen needs and does not have.
/// One read per list at a time, so a fast scroll asks only for where it stops.
pub(super) fn follow_screen(state: &mut State) -> Vec<Effect> {
    let Some(remote) = state.remote.as_mut() else { return Vec::new() };
    let mut effects = Vec::new();
    remote.contexts.show(state.contexts.view.offset, state.contexts.rows);
    if let Some(page) = remote.contexts.next_request() {
        effects.push(Effect::Remote(RemoteRequest::Contexts { query: remote.query.clone(), page }));
    }
    match &state.scope {
        Scope::Triage => {
            remote.triage.show(state.connections.view.offset, state.connections.rows);
            if let Some(page) = remote.triage.next_request() {
                effects.push(Effect::Remote(RemoteRequest::Triage { page }));
            }
        }
        Scope::Context(context) if remote.opening.is_none() && !remote.opened.contains(context) => {
            remote.opening = Some(context.clone());
            state.connections.load.loading = true;
            effects.push(Effect::Remote(RemoteRequest::ContextConnections { context: context.clone() }));
        }
        _ => {}
    }
    effects
}

/// `r` and the refresh timer: totals again (which read the held pages again), and the open
/// context's connections; the next refresh is scheduled.
pub(super) fn refresh(state: &mut State) -> Vec<Effect> {
    let Some(remote) = state.remote.as_mut() else { return Vec::new() };
    let mut effects = read_totals(remote, Duration::ZERO);
    let current = match &state.scope {
        Scope::Context(context) => Some(context.clone()),
        _ => None,
    };
    remote.opened.clear();
    keep_connections_of(state, |context| Some(context) == current.as_deref());
    effects.push(Effect::ScheduleRefresh(state.rescan_interval()));
    effects
}

/// Events changed the platform: the totals (and with them the held pages) are read again, at
/// most every [`TOTALS_EVERY`].
pub(super) fn on_change(state: &mut State) -> Vec<Effect> {
    let Some(remote) = state.remote.as_mut() else { return Vec::new() };
    if remote.totals_reading {
        remote.totals_dirty = true;
        return Vec::new();
    }
    let since = remote.totals_read_at.map_or(TOTALS_EVERY, |at| (Utc::now() - at).to_std().unwrap_or_default());
    read_totals(remote, TOTALS_EVERY.saturating_sub(since))
}

fn read_totals(remote: &mut Remote, delay: Duration) -> Vec<Effect> {
    remote.totals_reading = true;
    remote.totals_dirty = false;
    vec![Effect::Remote(RemoteRequest::Totals { delay })]
}

pub(super) fn on_event(state: &mut State, event: RemoteEvent) -> Vec<Effect> {
    let Some(remote) = state.remote.as_mut() else {
        state.needs_redraw = false;
        return Vec::new();
    };
    let now = Utc::now();
    match event {
        RemoteEvent::Totals(result) => {
            remote.totals_reading = false;
            remote.totals_read_at = Some(now);
            let again = std::mem::take(&mut remote.totals_dirty);
            match result {
                Ok(stats) => remote.set_stats(*stats),
                Err(error) => state.set_flash(format!("cannot read the totals: {error}"), true),
            }
            state.rebuild_contexts();
            state.rebuild_connections();
            if again {
                return on_change(state);
            }
        }
        RemoteEvent::ContextsPage { page, result } => {
            let taken = match result {
                Ok((rows, next)) => remote.contexts.arrive(&page, rows, next),
                Err(error) => {
                    let taken = remote.contexts.fail(&page, error.clone());
                    if taken {
                        state.contexts.load.error = Some((now, error));
                    }
                    taken
                }
            };
            if !taken {
                state.needs_redraw = false;
                return Vec::new();
            }
            state.contexts.load.loaded_at = Some(now);
            // Rows fill their placeholders in place: the selection keeps its position.
            state.rebuild_contexts();
            state.rebuild_connections();
        }
        RemoteEvent::TriagePage { page, result } => {
            let taken = match result {
                Ok((rows, next)) => remote.triage.arrive(&page, rows, next),
                Err(error) => {
                    let taken = remote.triage.fail(&page, error.clone());
                    if taken {
                        state.connections.load.error = Some((now, error));
                    }
                    taken
                }
            };
            if !taken {
                state.needs_redraw = false;
                return Vec::new();
            }
            state.rebuild_connections();
        }
        RemoteEvent::ContextConnections { context, result } => {
            remote.opening = None;
            let forgotten = remote.open(&context);
            state.connections.load.loading = false;
            let mut connections = match result {
                Ok(connections) => {
                    state.connections.load.loaded_at = Some(now);
                    state.connections.load.error = None;
                    connections
                }
                Err(error) => {
                    state.connections.load.error = Some((now, error));
                    Vec::new()
                }
            };
            // The per-context route does not say whose they are: the list needs it.
            for connection in &mut connections {
                connection
                    .context
                    .get_or_insert_with(|| ContextRef { external_id: context.clone(), external_name: None });
            }
            keep_connections_of(state, |owner| owner != context && !forgotten.iter().any(|gone| gone == owner));
            state.data.add_connections(connections);
            state.rebuild_connections();
        }
    }
    Vec::new()
}

/// Keeps in the loaded data only the connections of the contexts `keep` says.
fn keep_connections_of(state: &mut State, keep: impl Fn(&str) -> bool) {
    let data = std::mem::take(&mut state.data);
    let connections = data
        .connections
        .into_iter()
        .filter(|connection| connection.context.as_ref().is_some_and(|context| keep(&context.external_id)))
        .collect();
    state.data = Data::from_parts(data.contexts, data.connectors, connections);
}
