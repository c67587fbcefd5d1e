//! Scans: starting one, taking in its pages (shown as they come on the first load, staged
//! during a refresh), and ending it: the swap of staged data, back-off after failures, and the
//! next refresh.

use std::time::Duration;

use chrono::Utc;

use crate::model::Connection;
use crate::tui::action::{Effect, LoadEvent, Stream};
use crate::tui::data::Data;
use crate::tui::state::{RunningScan, State};

/// The first retry after a failed scan; each further failure doubles it, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

pub(super) fn start_scan(state: &mut State) -> Vec<Effect> {
    if state.remote.is_some() {
        return super::remote::refresh(state);
    }
    state.generation += 1;
    let loaded_before = state.list_panes().iter().any(|pane| pane.load.loaded_at.is_some());
    state.scan = Some(RunningScan {
        pending: [Stream::Contexts, Stream::Connectors, Stream::Connections].into(),
        staging: loaded_before.then(Data::default),
        ..RunningScan::default()
    });
    for pane in state.list_panes_mut() {
        pane.load.loading = true;
    }
    vec![Effect::StartScan { generation: state.generation, catalog: state.catalog_url.is_none() }]
}

pub(super) fn on_scan_event(state: &mut State, event: LoadEvent) -> Vec<Effect> {
    let Some(scan) = state.scan.as_mut() else { return Vec::new() };
    let progressive = scan.staging.is_none();
    let sink = scan.staging.as_mut().unwrap_or(&mut state.data);
    match event {
        LoadEvent::Catalog(Ok(url)) => {
            state.catalog_url = Some(url);
            state.catalog_error = None;
        }
        LoadEvent::Catalog(Err(error)) => state.catalog_error = Some(error),
        LoadEvent::Remote(stats) => super::remote::enter(state, *stats),
        LoadEvent::ContextsPage(contexts) => {
            scan.contexts_seen += contexts.len();
            sink.add_contexts(contexts);
            if progressive {
                state.rebuild_contexts();
                state.rebuild_connections();
            }
        }
        LoadEvent::ConnectorsPage(connectors) => {
            sink.add_connectors(connectors);
            if progressive {
                state.rebuild_connectors();
                state.rebuild_connections();
            }
        }
        LoadEvent::ConnectionsPage { connections, fallback } => {
            scan.connections_seen += connections.len();
            state.fallback = fallback;
            if progressive {
                show_connections(state, connections);
            } else {
                sink.add_connections(connections);
            }
        }
        LoadEvent::Finished { stream, result } => {
            scan.pending.remove(&stream);
            let now = Utc::now();
            // The fields, not `State::list_pane_mut`: `scan` still borrows `state.scan`.
            let load = match stream {
                Stream::Contexts => &mut state.contexts.load,
                Stream::Connectors => &mut state.connectors.load,
                Stream::Connections => &mut state.connections.load,
            };
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
                state.set_flash(error, true);
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
pub(super) fn show_connections(state: &mut State, connections: Vec<Connection>) {
    state.data.add_connections(connections);
    state.rebuild_views();
}

/// Swaps in a refresh's staged data (keeping the previous data of any list that failed, so a
/// failing refresh leaves the screen stale rather than empty) and schedules the next scan.
fn finish_scan(state: &mut State) -> Vec<Effect> {
    let Some(scan) = state.scan.take() else { return Vec::new() };
    let selection = state.selection();
    if let Some(staged) = scan.staging {
        let [contexts_fresh, connectors_fresh, connections_fresh] =
            state.list_panes().map(|pane| pane.load.error.is_none());
        if contexts_fresh && connectors_fresh && connections_fresh {
            // The staged data was indexed as it arrived: swap it in as is (indexing 100,000
            // connections again here froze the screen for a quarter of a second).
            state.data = staged;
        } else {
            let old = std::mem::take(&mut state.data);
            let contexts = if contexts_fresh { staged.contexts } else { old.contexts };
            let connectors = if connectors_fresh { staged.connectors } else { old.connectors };
            let connections = if connections_fresh { staged.connections } else { old.connections };
            state.data = Data::from_parts(contexts, connectors, connections);
        }
    }
    state.data.adopt_referenced();
    state.rebuild_views_keeping(selection);
    let delay = if std::mem::take(&mut state.live.rescan_wanted) {
        Duration::ZERO
    } else if scan.failed {
        state.failures += 1;
        FIRST_BACKOFF.saturating_mul(2u32.saturating_pow(state.failures - 1)).min(MAX_BACKOFF)
    } else {
        state.failures = 0;
        state.rescan_interval()
    };
    vec![Effect::ScheduleRefresh(delay)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{self, SIZE, finish_all, key, listed_ids, loaded_state, new_state, press, scan};
    use crate::tui::state::Scope;
    use crate::tui::update::update;

    #[test]
    fn the_first_scan_fills_panes_progressively_then_schedules_the_refresh() {
        let mut state = new_state(SIZE);
        assert_eq!(update(&mut state, Action::Start), vec![Effect::StartScan { generation: 1, catalog: false }]);
        assert!(state.is_loading() && state.list_panes().iter().all(|pane| pane.load.loading));
        scan(&mut state, LoadEvent::ContextsPage(fixtures::contexts()));
        assert_eq!(state.contexts.view.len(), 3, "pages show before the scan ends");
        assert_eq!(state.scope, Scope::Context("org_acme".into()));
        scan(&mut state, LoadEvent::ConnectionsPage { connections: fixtures::connections(), fallback: false });
        assert_eq!(listed_ids(&state), ["c-acme-slack", "c-acme-github", "c-acme-drive"]);
        scan(&mut state, LoadEvent::Finished { stream: Stream::Contexts, result: Ok(()) });
        let effects = scan(&mut state, LoadEvent::Finished { stream: Stream::Connections, result: Ok(()) });
        assert!(effects.is_empty(), "the connectors stream is still running");
        let effects = scan(&mut state, LoadEvent::Finished { stream: Stream::Connectors, result: Ok(()) });
        assert_eq!(effects, vec![Effect::ScheduleRefresh(state.settings.refresh)]);
        // Connectors were never listed: they are adopted from the connections.
        assert_eq!(state.data.connectors.len(), 3);
        assert!(state.scan.is_none());
        assert!(state.list_panes().iter().all(|pane| pane.load.loaded_at.is_some() && !pane.load.loading));
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
        let loaded_at = state.connections.load.loaded_at;
        update(&mut state, Action::RefreshTick);
        scan(&mut state, LoadEvent::ContextsPage(vec![fixtures::context("org_new", "New")]));
        assert_eq!(state.data.contexts.len(), 3, "a refresh stages its pages instead of flickering");
        let effects = finish_all(&mut state, Err("cannot reach the server: request timed out".into()));
        assert_eq!(effects, vec![Effect::ScheduleRefresh(FIRST_BACKOFF)]);
        // Contexts succeeded and are swapped in; the failed connections keep their last data
        // (and the contexts they refer to).
        assert_eq!(state.data.contexts[0].external_id, "org_new");
        assert_eq!(state.data.connections.len(), 6);
        let load = &state.connections.load;
        assert_eq!(load.loaded_at, loaded_at);
        let (since, error) = load.error.clone().unwrap();
        assert!(error.contains("timed out"));
        update(&mut state, Action::RefreshTick);
        let effects = finish_all(&mut state, Err("still down".into()));
        assert_eq!(effects, vec![Effect::ScheduleRefresh(FIRST_BACKOFF * 2)]);
        assert_eq!(state.connections.load.error.as_ref().unwrap().0, since, "stale since the first failure");
        update(&mut state, Action::RefreshTick);
        assert_eq!(finish_all(&mut state, Ok(())), vec![Effect::ScheduleRefresh(state.settings.refresh)]);
        assert_eq!(state.failures, 0);
        assert!(state.connections.load.error.is_none());
    }

    #[test]
    fn a_refresh_keeps_the_selection_by_identity() {
        let mut state = loaded_state(SIZE);
        press(&mut state, "j");
        update(&mut state, Action::RefreshTick);
        let globex = fixtures::context("org_globex", "Globex Industries");
        scan(&mut state, LoadEvent::ContextsPage(vec![fixtures::context("org_aaa", "First"), globex]));
        scan(&mut state, LoadEvent::ConnectionsPage { connections: fixtures::connections(), fallback: false });
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
        update(&mut state, Action::Drawn);
        let event = LoadEvent::ContextsPage(vec![fixtures::context("ghost", "Ghost")]);
        update(&mut state, Action::Scan { generation: old, event });
        assert!(!state.needs_redraw);
        assert!(state.scan.as_ref().unwrap().staging.as_ref().unwrap().contexts.is_empty());
    }
}
