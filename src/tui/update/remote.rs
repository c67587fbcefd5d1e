//! The remote-backed panes (`tui/remote.rs`): entering remote mode, taking in totals and pages,
//! refreshing, and, after every action, asking for what the screen now shows. The other
//! reducer modules do not know about it: moving, filtering and sorting change the views as
//! always, and [`follow_screen`] turns the views' windows into reads.

use std::time::Duration;

use chrono::Utc;

use crate::model::{ContextRef, PlatformStats};
use crate::tui::action::Effect;
use crate::tui::data::Data;
use crate::tui::remote::{Remote, RemoteEvent, RemoteRequest, SETTLE, TOTALS_EVERY};
use crate::tui::state::{Mode, Pane, Scope, State};

/// The platform is large and the server keeps totals: the panes read what they show.
pub(super) fn enter(state: &mut State, stats: PlatformStats) {
    tracing::info!(contexts = stats.contexts, connections = stats.connections, "remote-backed panes");
    let remote = Remote::new(stats);
    state.data.set_server_counts(remote.connector_counts());
    state.remote = Some(Box::new(remote));
    state.rebuild_views();
}

/// After every action: the pages, totals and connections the screen needs and does not have.
/// One read per list at a time, so a fast scroll asks only for where it stops.
pub(super) fn follow_screen(state: &mut State) -> Vec<Effect> {
    let mut effects = settle_typed(state);
    let Some(remote) = state.remote.as_mut() else { return Vec::new() };
    remote.contexts.show(state.contexts.view.offset, state.contexts.rows);
    // While a query is typed, the previous one's rows stay on screen: no more reads of them.
    if remote.typed.is_none()
        && let Some(page) = remote.contexts.next_request()
    {
        effects.push(Effect::Remote(RemoteRequest::Contexts { query: remote.query.clone(), page }));
    }
    match &state.scope {
        Scope::Triage | Scope::Connector(_) => {
            remote.listing.show(state.connections.view.offset, state.connections.rows);
            if let Some(page) = remote.listing.next_request() {
                effects.push(Effect::Remote(RemoteRequest::Listing { listed: remote.listed.clone(), page }));
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

/// A query typed in the contexts' filter goes out once it is due (its timer fired, or the read
/// in flight answered) and no read of the list is in flight, or at once when the filter line
/// closed; else its timer is asked for. So at most one contexts read is in flight while typing,
/// and the last query typed is the last one asked.
fn settle_typed(state: &mut State) -> Vec<Effect> {
    let typing = matches!(state.mode, Mode::Filter(_));
    let Some(remote) = state.remote.as_mut() else { return Vec::new() };
    let Some(typed) = remote.typed.as_mut() else { return Vec::new() };
    if !typing || (typed.due && !remote.contexts.is_reading()) {
        let query = typed.query.clone();
        remote.typed = None;
        remote.set_query(query);
        state.contexts.view.selected = 0;
        state.contexts.view.offset = 0;
        state.rebuild_pane(Pane::Contexts);
        return Vec::new();
    }
    if typed.timed {
        return Vec::new();
    }
    typed.timed = true;
    vec![Effect::Remote(RemoteRequest::Settle { keystroke: typed.keystroke, after: SETTLE })]
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
                Ok(stats) => {
                    remote.set_stats(*stats);
                    state.data.set_server_counts(remote.connector_counts());
                }
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
            // The read in flight answered: a query typed meanwhile goes out now.
            if let Some(typed) = &mut remote.typed {
                typed.due = true;
            }
            state.contexts.load.loaded_at = Some(now);
            if remote.contexts.error.is_none() {
                state.contexts.load.error = None;
            }
            // Rows fill their placeholders in place: the selection keeps its position.
            state.rebuild_contexts();
            state.rebuild_connections();
        }
        RemoteEvent::ListingPage { page, result } => {
            let taken = match result {
                Ok((rows, next)) => remote.listing.arrive(&page, rows, next),
                Err(error) => {
                    let taken = remote.listing.fail(&page, error.clone());
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
            if remote.listing.error.is_none() {
                state.connections.load.error = None;
            }
            state.rebuild_connections();
        }
        RemoteEvent::Settled { keystroke } => match &mut remote.typed {
            Some(typed) if typed.keystroke == keystroke => typed.due = true,
            // A later keystroke has its own timer.
            _ => state.needs_redraw = false,
        },
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
    if let Some(remote) = &state.remote {
        state.data.set_server_counts(remote.connector_counts());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ConnectorTotals, Context, ContextOrder, ContextQuery, Health, HealthTotals};
    use crate::tui::action::{Action, LoadEvent};
    use crate::tui::fixtures::{self, SIZE, new_state, press, scan};
    use crate::tui::live::FollowEvent;
    use crate::tui::paged::PageRequest;

    const CONTEXTS: u64 = 250;

    fn stats() -> PlatformStats {
        let health = HealthTotals { active: 900, pending: 40, unknown: 10, error: 30, disabled: 20 };
        let slack = ConnectorTotals { slug: "slack".into(), connections: 1000, health };
        PlatformStats { contexts: CONTEXTS, connections: 1000, health, connectors: vec![slack] }
    }

    fn contexts(first: usize, count: usize) -> Vec<Context> {
        (first..first + count).map(|n| fixtures::context(&format!("org_{n:04}"), "Generated")).collect()
    }

    /// A remote-backed state; the effects of entering remote mode.
    fn remote_state() -> (State, Vec<Effect>) {
        let mut state = new_state(SIZE);
        update(&mut state, Action::Start);
        let effects = scan(&mut state, LoadEvent::Remote(Box::new(stats())));
        (state, effects)
    }

    fn update(state: &mut State, action: Action) -> Vec<Effect> {
        crate::tui::update::update(state, action)
    }

    fn answer(state: &mut State, event: RemoteEvent) -> Vec<Effect> {
        update(state, Action::Follow(FollowEvent::Remote(event)))
    }

    fn contexts_reads(effects: &[Effect]) -> Vec<(ContextQuery, PageRequest)> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Remote(RemoteRequest::Contexts { query, page }) => Some((query.clone(), page.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_page_fills_its_placeholders_in_place_and_the_selection_stays() {
        let (mut state, effects) = remote_state();
        let reads = contexts_reads(&effects);
        assert_eq!(reads.len(), 1, "{effects:?}");
        let (query, page) = reads[0].clone();
        assert_eq!((query, page.page, page.cursor.clone(), page.backward), (ContextQuery::default(), 0, None, false));
        assert_eq!(state.contexts.view.len(), CONTEXTS as usize, "the count comes from the totals");
        assert!(state.selected_context().is_none(), "a placeholder until the page arrives");
        press(&mut state, "jjj");
        let effects =
            answer(&mut state, RemoteEvent::ContextsPage { page, result: Ok((contexts(0, 100), Some("c100".into()))) });
        assert_eq!(state.contexts.view.selected, 3, "no jump when the page arrives");
        assert_eq!(state.selected_context().unwrap().external_id, "org_0003");
        // The next page is read ahead, and the selected context's connections are asked for.
        let next = contexts_reads(&effects);
        assert_eq!(next.len(), 1);
        assert_eq!((next[0].1.page, next[0].1.cursor.as_deref()), (1, Some("c100")));
        assert!(effects.contains(&Effect::Remote(RemoteRequest::ContextConnections { context: "org_0003".into() })));
        assert_eq!(state.totals().get(Health::Error), 30);
        assert_eq!(state.data.connector_counts("slack").get(Health::Active), 900);
        // The connectors' `status:` filter and count sorts go by the server's counts too.
        state.data.add_connectors(vec![fixtures::connector("slack", "Slack"), fixtures::connector("jira", "Jira")]);
        state.focus = crate::tui::state::Pane::Connectors;
        update(&mut state, fixtures::key('/'));
        press(&mut state, "status:error");
        assert_eq!(state.connectors.view.len(), 1, "only slack has errors on the server");
    }

    /// Types `text` key by key, returning every effect.
    fn type_keys(state: &mut State, text: &str) -> Vec<Effect> {
        text.chars().flat_map(|character| update(state, fixtures::key(character))).collect()
    }

    fn settle_timers(effects: &[Effect]) -> Vec<u64> {
        effects
            .iter()
            .filter_map(|effect| match effect {
                Effect::Remote(RemoteRequest::Settle { keystroke, after }) => {
                    assert_eq!(*after, SETTLE);
                    Some(*keystroke)
                }
                _ => None,
            })
            .collect()
    }

    fn searching(text: &str) -> ContextQuery {
        ContextQuery { search: Some(text.into()), ..ContextQuery::default() }
    }

    #[test]
    fn a_typed_filter_is_asked_once_the_typing_settles_and_the_old_rows_stay_meanwhile() {
        let (mut state, effects) = remote_state();
        let (_, first) = contexts_reads(&effects)[0].clone();
        let effects = answer(
            &mut state,
            RemoteEvent::ContextsPage { page: first, result: Ok((contexts(0, 100), Some("c".into()))) },
        );
        let (_, prefetch) = contexts_reads(&effects)[0].clone();
        answer(
            &mut state,
            RemoteEvent::ContextsPage { page: prefetch, result: Ok((contexts(100, 100), Some("d".into()))) },
        );
        update(&mut state, fixtures::key('/'));
        let typing = type_keys(&mut state, "acme");
        assert!(contexts_reads(&typing).is_empty(), "no read per keystroke: {typing:?}");
        let timers = settle_timers(&typing);
        assert_eq!(timers.len(), 4, "one timer per keystroke: {typing:?}");
        assert_eq!(state.remote.as_ref().unwrap().query, ContextQuery::default(), "not asked yet");
        assert_eq!(state.contexts.view.len(), CONTEXTS as usize, "the previous result stays on screen");
        assert_eq!(state.selected_context().unwrap().external_id, "org_0000");
        // An earlier keystroke's timer lets nothing go; the last one's sends the whole word.
        let early = answer(&mut state, RemoteEvent::Settled { keystroke: timers[1] });
        assert!(contexts_reads(&early).is_empty(), "{early:?}");
        let settled = answer(&mut state, RemoteEvent::Settled { keystroke: timers[3] });
        let reads = contexts_reads(&settled);
        assert_eq!(reads.len(), 1, "{settled:?}");
        assert_eq!((reads[0].0.clone(), reads[0].1.page), (searching("acme"), 0));
        assert_eq!(state.remote.as_ref().unwrap().query, searching("acme"));
        assert!(state.selected_context().is_none(), "the new query's rows are on their way");
        // Typing back to the query asked asks nothing more.
        let back = type_keys(&mut state, "x");
        let back = [back, update(&mut state, fixtures::code(crossterm::event::KeyCode::Backspace))].concat();
        let after_backspace = settle_timers(&back);
        let again = answer(&mut state, RemoteEvent::Settled { keystroke: after_backspace[0] });
        assert!(contexts_reads(&again).is_empty(), "{again:?}");
        assert!(state.remote.as_ref().unwrap().typed.is_none());
    }

    #[test]
    fn keystrokes_during_a_read_go_out_when_it_answers_and_the_last_query_typed_is_the_one_shown() {
        let (mut state, effects) = remote_state();
        let (_, first) = contexts_reads(&effects)[0].clone();
        update(&mut state, fixtures::key('/'));
        let typing = type_keys(&mut state, "ac");
        assert!(contexts_reads(&typing).is_empty(), "{typing:?}");
        // Its timer fires while the first page is still on its way: it waits, one read at a time.
        let timers = settle_timers(&typing);
        let waited = answer(&mut state, RemoteEvent::Settled { keystroke: *timers.last().unwrap() });
        assert!(contexts_reads(&waited).is_empty(), "{waited:?}");
        // The first page answers: "ac" goes out at once, without waiting for another timer.
        let answered =
            answer(&mut state, RemoteEvent::ContextsPage { page: first, result: Ok((contexts(0, 100), None)) });
        let reads = contexts_reads(&answered);
        assert_eq!(reads.len(), 1, "{answered:?}");
        let (query, ac_page) = reads[0].clone();
        assert_eq!(query, searching("ac"));
        // More keystrokes while "ac" is read; then its answer, then the final query's.
        let typing = type_keys(&mut state, "me");
        assert!(contexts_reads(&typing).is_empty(), "{typing:?}");
        let ac_rows = vec![fixtures::context("org_acorn", "Acorn")];
        let answered = answer(
            &mut state,
            RemoteEvent::ContextsPage { page: ac_page.clone(), result: Ok((ac_rows.clone(), None)) },
        );
        let reads = contexts_reads(&answered);
        assert_eq!(reads.len(), 1, "{answered:?}");
        let (query, acme_page) = reads[0].clone();
        assert_eq!(query, searching("acme"));
        let acme_rows = vec![fixtures::context("org_acme", "Acme Corporation")];
        answer(&mut state, RemoteEvent::ContextsPage { page: acme_page, result: Ok((acme_rows, None)) });
        // A late duplicate of the older query's answer changes nothing.
        answer(&mut state, RemoteEvent::ContextsPage { page: ac_page, result: Ok((ac_rows, None)) });
        assert_eq!(state.contexts.view.len(), 1);
        assert_eq!(state.selected_context().unwrap().external_id, "org_acme", "never an older query's rows");
    }

    #[test]
    fn keeping_the_filter_asks_at_once() {
        let (mut state, _) = remote_state();
        update(&mut state, fixtures::key('/'));
        type_keys(&mut state, "acme");
        let kept = update(&mut state, fixtures::code(crossterm::event::KeyCode::Enter));
        assert_eq!(state.remote.as_ref().unwrap().query, searching("acme"), "enter does not wait for the timer");
        let reads = contexts_reads(&kept);
        assert_eq!(reads.iter().map(|(query, _)| query.clone()).collect::<Vec<_>>(), [searching("acme")]);
    }

    #[test]
    fn the_end_is_one_backward_read() {
        let (mut state, effects) = remote_state();
        let (_, first) = contexts_reads(&effects)[0].clone();
        let effects = update(&mut state, fixtures::key('G'));
        assert_eq!(state.contexts.view.selected, CONTEXTS as usize - 1);
        assert!(contexts_reads(&effects).is_empty(), "one read at a time: the end is asked for after the first");
        let effects = answer(
            &mut state,
            RemoteEvent::ContextsPage { page: first, result: Ok((contexts(0, 100), Some("c".into()))) },
        );
        let reads = contexts_reads(&effects);
        let (_, page) = reads.last().expect("a read for the end").clone();
        assert_eq!((page.page, page.backward, page.cursor, page.limit), (2, true, None, 50));
    }

    #[test]
    fn filters_and_sorts_become_the_servers_query() {
        let (mut state, _) = remote_state();
        update(&mut state, fixtures::key('/'));
        press(&mut state, "status:error connector:slack acme");
        let effects = update(&mut state, fixtures::code(crossterm::event::KeyCode::Enter));
        let expected = ContextQuery {
            health: Some(Health::Error),
            connector: Some("slack".into()),
            search: Some("acme".into()),
            ..ContextQuery::default()
        };
        assert_eq!(state.remote.as_ref().unwrap().query, expected);
        assert!(effects.is_empty() || contexts_reads(&effects).iter().all(|(query, _)| *query == expected));
        assert_eq!(state.contexts.view.len(), 0, "a filtered count is not in the totals: it grows as pages arrive");
        update(&mut state, fixtures::key('s'));
        let query = &state.remote.as_ref().unwrap().query;
        assert_eq!((query.sort, query.descending), (ContextOrder::Health, true), "worst first");
        update(&mut state, fixtures::key('/'));
        press(&mut state, "x status:nonsense");
        assert!(state.flash.as_ref().is_some_and(|flash| flash.error), "an unknown status is said");
    }

    #[test]
    fn triage_pages_the_unhealthy_set_counted_by_the_server() {
        let (mut state, _) = remote_state();
        let effects = update(&mut state, fixtures::key('t'));
        assert_eq!(state.connections.view.len(), 40, "errors and unknowns from the totals");
        let listing = effects.iter().find_map(|effect| match effect {
            Effect::Remote(RemoteRequest::Listing { listed, page }) => Some((listed.clone(), page.page)),
            _ => None,
        });
        let triage = crate::tui::remote::Listed { triage: true, ..Default::default() };
        assert_eq!(listing, Some((triage, 0)));
        // Its status and connector terms are the bulk listing's filters, counted by the totals.
        update(&mut state, fixtures::key('/'));
        press(&mut state, "status:unknown connector:slack");
        assert_eq!(state.connections.view.len(), 10, "slack's unknown connections");
        let listed = &state.remote.as_ref().unwrap().listed;
        assert_eq!((listed.health, listed.connector.as_deref()), (Some(Health::Unknown), Some("slack")));
    }

    #[test]
    fn an_event_patches_the_open_context_and_reads_the_totals_and_the_pages_again() {
        let (mut state, effects) = remote_state();
        let (_, first) = contexts_reads(&effects)[0].clone();
        let mut page = contexts(0, 99);
        page.insert(0, fixtures::context("org_acme", "Acme Corporation"));
        let effects =
            answer(&mut state, RemoteEvent::ContextsPage { page: first, result: Ok((page, Some("c".into()))) });
        let (_, prefetch) = contexts_reads(&effects)[0].clone();
        answer(
            &mut state,
            RemoteEvent::ContextsPage { page: prefetch, result: Ok((contexts(100, 100), Some("d".into()))) },
        );
        let acme: Vec<_> = fixtures::connections()
            .into_iter()
            .filter(|c| c.context.as_ref().unwrap().external_id == "org_acme")
            .collect();
        answer(&mut state, RemoteEvent::ContextConnections { context: "org_acme".into(), result: Ok(acme) });
        assert_eq!(state.connections.view.len(), 3, "the open context's connections");
        let broke = crate::model::Event {
            id: "e1".into(),
            event_type: "connection.error".into(),
            occurred_at: "2026-03-14T09:20:00Z".into(),
            context: Some("org_acme".into()),
            connector: Some("slack".into()),
            connection: Some("c-acme-slack".into()),
            ..Default::default()
        };
        let other = crate::model::Event {
            id: "e2".into(),
            context: Some("org_0042".into()),
            connection: Some("x".into()),
            ..broke.clone()
        };
        let effects =
            update(&mut state, Action::Follow(FollowEvent::Events { events: vec![broke, other], apply: true }));
        let slack = state.data.connection_position("c-acme-slack").map(|p| &state.data.connections[p]);
        assert_eq!(Health::of(slack), Health::Error, "patched in place");
        assert!(
            !effects.iter().any(|e| matches!(e, Effect::RefetchConnections { context, .. } if context == "org_0042")),
            "a context not held is not read: {effects:?}"
        );
        let totals = effects.iter().filter(|e| matches!(e, Effect::Remote(RemoteRequest::Totals { .. }))).count();
        assert_eq!(totals, 1, "{effects:?}");
        // More events while the totals are read: one more read after, not one per event.
        let again = update(
            &mut state,
            Action::Follow(FollowEvent::Events {
                events: vec![crate::model::Event { id: "e3".into(), ..Default::default() }],
                apply: true,
            }),
        );
        assert!(!again.iter().any(|e| matches!(e, Effect::Remote(RemoteRequest::Totals { .. }))));
        let mut stats = stats();
        stats.health.error += 1;
        let effects = answer(&mut state, RemoteEvent::Totals(Ok(Box::new(stats))));
        assert_eq!(state.totals().get(Health::Error), 31);
        assert!(
            effects
                .iter()
                .any(|e| matches!(e, Effect::Remote(RemoteRequest::Totals { delay }) if *delay <= TOTALS_EVERY))
        );
        let reread = contexts_reads(&effects);
        assert_eq!(reread.first().map(|(_, page)| page.page), Some(0), "the page on screen is read again: {effects:?}");
    }
}
