//! Following events: the follower's reports change what is on screen without a rescan. A
//! connection that breaks turns red and joins triage at once (the event carries the error);
//! what an event does not carry (a new connection, a repaired one's label) is read again, one
//! context and connector at a time. The mode (live, polling, retrying) decides the rescan
//! interval and what the header says.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};

use crate::client::ClientError;
use crate::model::{AuthorizationStatus, Connection, Event, StatsHistory};
use crate::tui::action::Effect;
use crate::tui::data::Data;
use crate::tui::live::{FollowEvent, FollowMode};
use crate::tui::state::State;

/// Event types the 24-hour chart counts: one arriving asks for the history again.
const CHARTED: [&str; 4] =
    ["connection.error", "connection.recovered", "connection.repaired", "connection.refresh_failed"];

pub(super) fn on_follow(state: &mut State, event: FollowEvent) -> Vec<Effect> {
    match event {
        FollowEvent::Unsupported => switch_mode(state, FollowMode::Polling),
        FollowEvent::Failed { error, retry_in } => {
            let now = Utc::now();
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
            if apply && !events.is_empty() {
                effects.extend(apply_events(state, &events));
            }
            if events.is_empty() {
                // A long-poll that ended with nothing new changes nothing on screen.
                state.needs_redraw = effects.iter().any(|effect| !matches!(effect, Effect::ScheduleRefresh(_)));
            }
            effects
        }
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
    for event in events {
        let Some(id) = event.connection.as_deref() else { continue };
        let patched = patch(&mut state.data, event, id);
        if let Some(staging) = state.scan.as_mut().and_then(|scan| scan.staging.as_mut()) {
            patch(staging, event, id);
        }
        changed |= patched;
        if !patched
            && event.event_type != "connection.deleted"
            && let (Some(context), Some(connector)) = (&event.context, &event.connector)
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
    let mut effects: Vec<Effect> =
        refetch.into_iter().map(|(context, connector)| Effect::RefetchConnections { context, connector }).collect();
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
pub(super) fn on_refetched(state: &mut State, result: Result<Vec<Connection>, String>) -> Vec<Effect> {
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

pub(super) fn on_stats(state: &mut State, result: Result<Box<StatsHistory>, ClientError>) -> Vec<Effect> {
    state.live.stats_loading = false;
    match result {
        Ok(stats) => state.live.stats = Some(*stats),
        Err(ClientError::NotFound(_)) => state.live.stats_unsupported = true,
        Err(error) => tracing::warn!(%error, "cannot read the 24-hour history"),
    }
    Vec::new()
}
