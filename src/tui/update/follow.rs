//! Following events: the follower's reports change what is on screen without a rescan. A
//! connection that breaks turns red and joins triage at once (the event carries the error);
//! what an event does not carry (a new connection, a repaired one's label) is read again, one
//! context and connector at a time. The mode (live, polling, retrying) decides the rescan
//! interval and what the header says.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use super::scan;
use crate::client::ClientError;
use crate::model::{AuthorizationStatus, Connection, Event, StatsHistory};
use crate::tui::action::Effect;
use crate::tui::data::Data;
use crate::tui::live::{FollowEvent, FollowMode};
use crate::tui::state::{Mode, State};

/// The most contexts-and-connector pairs one batch of events reads again; past it, a rescan.
const MAX_REFETCHES: usize = 16;

/// Event types the 24-hour chart counts: one arriving asks for the history again.
const CHARTED: [&str; 4] =
    ["connection.error", "connection.recovered", "connection.repaired", "connection.refresh_failed"];

pub(super) fn on_follow(state: &mut State, event: FollowEvent) -> Vec<Effect> {
    match event {
        FollowEvent::Unsupported => switch_mode(state, FollowMode::Polling),
        FollowEvent::Failed { error, retry_in } => {
            let now = state.now();
            let since = match &state.live.mode {
                FollowMode::Retrying { since, .. } => *since,
                _ => now,
            };
            let retry_at = now + chrono::Duration::from_std(retry_in).unwrap_or_default();
            switch_mode(state, FollowMode::Retrying { since, retry_at, error })
        }
        FollowEvent::Events { events, apply } => {
            let mut effects = switch_mode(state, FollowMode::Live);
            state.live.record(&events);
            super::events::refresh_view(state);
            if apply && !events.is_empty() {
                effects.extend(apply_events(state, &events));
                effects.extend(super::remote::on_change(state));
            }
            if events.is_empty() {
                // A long-poll that ended with nothing new changes nothing on screen.
                state.needs_redraw = effects.iter().any(|effect| !matches!(effect, Effect::ScheduleRefresh(_)));
            }
            effects
        }
        FollowEvent::Refetched { result, .. } => on_refetched(state, result),
        FollowEvent::Stats(result) => on_stats(state, result),
        FollowEvent::Remote(event) => super::remote::on_event(state, event),
    }
}

/// Enters `mode`; leaving or entering live mode moves the next rescan (when none runs) to the
/// mode's interval, and going live loads the chart.
fn switch_mode(state: &mut State, mode: FollowMode) -> Vec<Effect> {
    let was_live = state.live.mode == FollowMode::Live;
    let now_live = mode == FollowMode::Live;
    state.live.mode = mode;
    let mut effects = Vec::new();
    if was_live != now_live
        && state.scan.is_none()
        && state.list_panes().iter().any(|pane| pane.load.loaded_at.is_some())
    {
        effects.push(Effect::ScheduleRefresh(state.rescan_interval()));
    }
    if now_live && !was_live {
        effects.extend(load_stats(state));
    }
    effects
}

/// A minute passed: the chart's history is read again once its last hour has ended, so it
/// moves on with the clock while the Events view is open.
pub(super) fn on_clock(state: &mut State) -> Vec<Effect> {
    let outdated = state.live.stats.as_ref().is_some_and(|stats| {
        DateTime::parse_from_rfc3339(&stats.until).is_ok_and(|until| until.to_utc() <= state.now())
    });
    if outdated && matches!(state.mode, Mode::Events(_)) {
        return load_stats(state).into_iter().collect();
    }
    Vec::new()
}

/// Asks for the 24-hour history unless the server lacks it or a request is in flight.
fn load_stats(state: &mut State) -> Option<Effect> {
    if state.live.stats_unsupported || state.live.stats_loading {
        return None;
    }
    state.live.stats_loading = true;
    Some(Effect::LoadStats)
}

/// Applies events (oldest first) to the loaded data, and to a running scan's staging so its
/// swap does not undo them; returns the reads of what the events do not carry.
fn apply_events(state: &mut State, events: &[Event]) -> Vec<Effect> {
    let mut refetch = BTreeSet::new();
    let mut changed = false;
    // A bulk import is one `platform.imported` event, not one per row: only a scan shows it.
    let imported = events.iter().any(|event| event.event_type == "platform.imported");
    for event in events {
        let Some(id) = event.connection.as_deref() else { continue };
        let patched = patch(&mut state.data, event, id);
        if let Some(staging) = state.scan.as_mut().and_then(|scan| scan.staging.as_mut()) {
            patch(staging, event, id);
        }
        changed |= patched;
        // Remote-backed: only the open contexts' connections are held; the rest is re-read
        // with the totals.
        let held = |context: &String| state.remote.as_ref().is_none_or(|remote| remote.opened.contains(context));
        if !patched
            && event.event_type != "connection.deleted"
            && let (Some(context), Some(connector)) = (&event.context, &event.connector)
            && held(context)
        {
            refetch.insert((context.clone(), connector.clone()));
        }
    }
    if changed {
        state.data.reindex();
        if let Some(staging) = state.scan.as_mut().and_then(|scan| scan.staging.as_mut()) {
            staging.reindex();
        }
        state.rebuild_views();
    }
    let mut effects: Vec<Effect> = if imported || refetch.len() > MAX_REFETCHES {
        // So many changes at once (an import, a bulk repair) are cheaper to read in one scan.
        if state.scan.is_none() {
            scan::start_scan(state)
        } else {
            state.live.rescan_wanted = true;
            Vec::new()
        }
    } else {
        refetch.into_iter().map(|(context, connector)| Effect::RefetchConnections { context, connector }).collect()
    };
    if events.iter().any(|event| CHARTED.contains(&event.event_type.as_str())) {
        effects.extend(load_stats(state));
    }
    effects
}

/// Changes the connection `id` as `event` says, when it is loaded and the event says enough;
/// false when it must be read again instead (or was already gone).
fn patch(data: &mut Data, event: &Event, id: &str) -> bool {
    if event.event_type == "connection.deleted" {
        return data.remove_connection(id);
    }
    let Some(connection) = data.connection_mut(id) else { return false };
    let at = DateTime::parse_from_rfc3339(&event.occurred_at).ok().map(|at| at.to_utc());
    let text = |key: &str| event.payload.get(key).and_then(|value| value.as_str()).map(str::to_owned);
    match event.event_type.as_str() {
        "connection.enabled" => connection.enabled = true,
        "connection.disabled" => connection.enabled = false,
        "connection.error" => {
            set_status(connection, AuthorizationStatus::Error, at);
            if let Some(authorization) = connection.authorization.as_mut() {
                authorization.error_code = text("error_code");
                authorization.error_message = text("error_message");
                authorization.refresh_error = None;
            }
        }
        "connection.recovered" => {
            set_status(connection, AuthorizationStatus::Active, at);
            if let Some(authorization) = connection.authorization.as_mut() {
                authorization.error_code = None;
                authorization.error_message = None;
            }
        }
        // Created, repaired (a new authorization and label), refresh_failed (the retry time):
        // read again.
        _ => return false,
    }
    true
}

fn set_status(connection: &mut Connection, status: AuthorizationStatus, at: Option<DateTime<Utc>>) {
    let authorization = connection.authorization.get_or_insert_with(Default::default);
    if authorization.status != status {
        authorization.status = status;
        authorization.status_changed_at = at.or(authorization.status_changed_at);
    }
}

/// The connections of one context to one connector as the server now has them.
fn on_refetched(state: &mut State, result: Result<Vec<Connection>, String>) -> Vec<Effect> {
    match result {
        Ok(connections) => {
            if let Some(staging) = state.scan.as_mut().and_then(|scan| scan.staging.as_mut()) {
                staging.add_connections(connections.clone());
            }
            state.data.add_connections(connections);
            state.data.adopt_referenced();
            state.rebuild_views();
        }
        Err(error) => {
            tracing::warn!(%error, "cannot read changed connections again");
            state.needs_redraw = false;
        }
    }
    Vec::new()
}

fn on_stats(state: &mut State, result: Result<Box<StatsHistory>, ClientError>) -> Vec<Effect> {
    state.live.stats_loading = false;
    match result {
        Ok(stats) => state.live.stats = Some(*stats),
        Err(ClientError::NotFound(_)) => state.live.stats_unsupported = true,
        Err(error) => tracing::warn!(%error, "cannot read the 24-hour history"),
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::model::Health;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{SIZE, connection, connector, loaded_state};
    use crate::tui::live::MAX_EVENTS;
    use crate::tui::update::update;

    fn event(event_type: &str, id: &str, context: &str, connector: &str, payload: serde_json::Value) -> Event {
        Event {
            id: format!("e-{event_type}-{id}"),
            event_type: event_type.into(),
            occurred_at: "2026-03-14T09:20:00Z".into(),
            context: Some(context.into()),
            connector: Some(connector.into()),
            connection: Some(id.into()),
            payload,
            ..Event::default()
        }
    }

    fn live(state: &mut State, events: Vec<Event>) -> Vec<Effect> {
        update(state, Action::Follow(FollowEvent::Events { events, apply: true }))
    }

    fn health(state: &State, id: &str) -> Health {
        Health::of(state.data.connection_position(id).map(|position| &state.data.connections[position]))
    }

    #[test]
    fn a_connection_that_breaks_turns_red_and_joins_triage_without_a_scan() {
        let mut state = loaded_state(SIZE);
        let errors = state.data.totals.get(Health::Error);
        let broke =
            event("connection.error", "c-acme-slack", "org_acme", "slack", json!({"error_code": "invalid_grant"}));
        let effects = live(&mut state, vec![broke]);
        assert!(!effects.iter().any(|effect| matches!(effect, Effect::StartScan { .. })), "{effects:?}");
        assert!(!effects.iter().any(|effect| matches!(effect, Effect::RefetchConnections { .. })), "it said enough");
        assert_eq!(health(&state, "c-acme-slack"), Health::Error);
        assert_eq!(state.data.totals.get(Health::Error), errors + 1);
        assert_eq!(state.data.connector_counts("slack").get(Health::Error), 2);
        let triage: Vec<&str> =
            state.data.needing_attention().iter().map(|&p| state.data.connections[p].id.as_str()).collect();
        assert!(triage.contains(&"c-acme-slack"), "{triage:?}");
        let authorization = state.selected_connection().unwrap().authorization.clone().unwrap();
        assert_eq!(authorization.error_code.as_deref(), Some("invalid_grant"));
        assert_eq!(authorization.status_changed_at.unwrap().to_rfc3339(), "2026-03-14T09:20:00+00:00");
        assert_eq!(state.live.events.len(), 1);

        live(&mut state, vec![event("connection.recovered", "c-acme-slack", "org_acme", "slack", json!({}))]);
        assert_eq!(health(&state, "c-acme-slack"), Health::Active);
        assert_eq!(state.data.totals.get(Health::Error), errors);
    }

    #[test]
    fn disabled_and_deleted_apply_in_place_and_what_events_do_not_carry_is_read_again() {
        let mut state = loaded_state(SIZE);
        live(&mut state, vec![event("connection.disabled", "c-acme-github", "org_acme", "github", json!({}))]);
        assert_eq!(health(&state, "c-acme-github"), Health::Disabled);
        live(&mut state, vec![event("connection.deleted", "c-acme-drive", "org_acme", "google-drive", json!({}))]);
        assert_eq!(state.data.connection_position("c-acme-drive"), None);
        assert_eq!(state.data.connections.len(), 5);
        assert_eq!(state.data.connections_of_context("org_acme").len(), 2, "the indices follow the removal");

        let created = event("connection.created", "c-new", "org_globex", "slack", json!({}));
        let effects = live(&mut state, vec![created.clone(), created]);
        let refetch = Effect::RefetchConnections { context: "org_globex".into(), connector: "slack".into() };
        assert_eq!(effects.iter().filter(|effect| **effect == refetch).count(), 1, "{effects:?}");
        let new = connection("c-new", "org_globex", connector("slack", "Slack"), true, Some("active"));
        let refetched =
            FollowEvent::Refetched { context: "org_globex".into(), connector: "slack".into(), result: Ok(vec![new]) };
        let action = Action::Follow(refetched);
        update(&mut state, action);
        assert_eq!(health(&state, "c-new"), Health::Active);
        assert_eq!(state.data.connections_of_context("org_globex").len(), 3);
    }

    #[test]
    fn many_unknown_connections_at_once_are_read_by_one_scan() {
        let created = |n: usize| event("connection.created", &format!("n{n}"), &format!("org_{n}"), "slack", json!({}));
        let many: Vec<Event> = (0..MAX_REFETCHES + 1).map(created).collect();
        let mut state = loaded_state(SIZE);
        let effects = live(&mut state, many.clone());
        assert!(effects.iter().any(|effect| matches!(effect, Effect::StartScan { .. })), "{effects:?}");
        assert!(!effects.iter().any(|effect| matches!(effect, Effect::RefetchConnections { .. })));

        // During a scan: one more right after it.
        let effects = live(&mut state, many);
        assert!(effects.iter().all(|effect| !matches!(effect, Effect::StartScan { .. })), "never two scans at once");
        let effects = crate::tui::fixtures::finish_all(&mut state, Ok(()));
        assert_eq!(effects, vec![Effect::ScheduleRefresh(Duration::ZERO)]);
        let effects = update(&mut state, Action::RefreshTick);
        crate::tui::fixtures::finish_all(&mut state, Ok(()));
        assert!(matches!(effects[..], [Effect::StartScan { .. }]));
        assert!(!state.live.rescan_wanted);
    }

    #[test]
    fn a_bulk_import_is_read_by_one_scan() {
        let imported = Event {
            id: "e-import".into(),
            event_type: "platform.imported".into(),
            occurred_at: "2026-03-14T09:20:00Z".into(),
            payload: json!({"contexts_added": 2000, "connections_added": 10000}),
            ..Event::default()
        };
        let mut state = loaded_state(SIZE);
        let effects = live(&mut state, vec![imported]);
        assert!(effects.iter().any(|effect| matches!(effect, Effect::StartScan { .. })), "{effects:?}");
    }

    #[test]
    fn an_open_chart_is_read_again_once_its_last_hour_ended() {
        let mut state = loaded_state(SIZE);
        let stats = |until: &str| StatsHistory { until: until.into(), ..StatsHistory::default() };
        update(&mut state, Action::Follow(FollowEvent::Stats(Ok(Box::new(stats("2026-03-14T10:00:00Z"))))));
        update(&mut state, Action::Key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('E'))));
        update(&mut state, Action::Follow(FollowEvent::Stats(Ok(Box::new(stats("2026-03-14T10:00:00Z"))))));
        assert!(update(&mut state, Action::ClockTick).is_empty(), "09:26: the hour still runs");
        state.frozen_now = DateTime::parse_from_rfc3339("2026-03-14T10:00:30Z").ok().map(|at| at.to_utc());
        assert_eq!(update(&mut state, Action::ClockTick), vec![Effect::LoadStats]);
        assert!(update(&mut state, Action::ClockTick).is_empty(), "one request at a time");
    }

    #[test]
    fn the_history_read_at_start_fills_the_view_but_changes_nothing() {
        let mut state = loaded_state(SIZE);
        let broke = event("connection.error", "c-acme-slack", "org_acme", "slack", json!({}));
        update(&mut state, Action::Follow(FollowEvent::Events { events: vec![broke], apply: false }));
        assert_eq!(health(&state, "c-acme-slack"), Health::Active);
        assert_eq!(state.live.events.len(), 1);
    }

    #[test]
    fn the_mode_decides_the_rescan_interval() {
        let mut state = loaded_state(SIZE);
        state.settings.refresh = Duration::from_secs(30);
        state.settings.live_rescan = Duration::from_secs(300);
        let effects = live(&mut state, Vec::new());
        assert_eq!(state.live.mode, FollowMode::Live);
        assert_eq!(effects, vec![Effect::ScheduleRefresh(Duration::from_secs(300)), Effect::LoadStats]);
        assert!(live(&mut state, Vec::new()).is_empty(), "an empty long-poll changes nothing");

        let failed = FollowEvent::Failed { error: "cannot reach".into(), retry_in: Duration::from_secs(2) };
        let effects = update(&mut state, Action::Follow(failed));
        assert!(matches!(state.live.mode, FollowMode::Retrying { .. }));
        assert_eq!(effects, vec![Effect::ScheduleRefresh(Duration::from_secs(30))], "polling again meanwhile");

        let effects = update(&mut state, Action::Follow(FollowEvent::Unsupported));
        assert_eq!(state.live.mode, FollowMode::Polling);
        assert!(effects.is_empty(), "already polling");
        update(&mut state, Action::Follow(FollowEvent::Stats(Err(ClientError::NotFound("no route".into())))));
        assert!(state.live.stats_unsupported && !state.live.stats_loading);
    }

    #[test]
    fn the_event_log_keeps_the_newest_few_thousand() {
        let mut state = loaded_state(SIZE);
        let many: Vec<Event> = (0..MAX_EVENTS + 10)
            .map(|n| Event { id: n.to_string(), event_type: "context.created".into(), ..Event::default() })
            .collect();
        live(&mut state, many);
        assert_eq!(state.live.events.len(), MAX_EVENTS);
        assert_eq!(state.live.events[0].id, (MAX_EVENTS + 9).to_string(), "newest first");
    }
}
