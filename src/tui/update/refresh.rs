//! `f`, the forced refresh of one connection, and what its answer changes on screen.

use std::time::Duration;

use chrono::Utc;

use super::scan::show_connections;
use crate::client::ClientError;
use crate::humanize::relative_time;
use crate::model::{AuthorizationStatus, Connection, Health};
use crate::sanitize::for_terminal;
use crate::tui::action::Effect;
use crate::tui::state::{Pane, State};

/// `slack, org_acme`: which connection a message is about.
fn describe(connection: &Connection) -> String {
    let context = connection.context.as_ref().map_or("?", |context| context.external_id.as_str());
    for_terminal(&format!("{}, {context}", connection.connector.slug))
}

/// `f`: asks the provider for a new token of the selected connection now (the forced-refresh
/// extension), so a revoked grant shows at once rather than on the next read. Only from the
/// connections or detail pane: a mutating key acts on what the user is looking at.
pub(super) fn refresh_connection(state: &mut State) -> Vec<Effect> {
    let selected = match state.focus {
        Pane::Connections | Pane::Detail => state.selected_connection(),
        Pane::Contexts | Pane::Connectors => None,
    };
    let Some(connection) = selected else {
        state.set_flash("select a connection first (enter drills into the connections)", true);
        return Vec::new();
    };
    let (id, name) = (connection.id.clone(), describe(connection));
    if !state.refreshing.insert(id.clone()) {
        state.set_flash(format!("already refreshing {name}"), false);
        return Vec::new();
    }
    state.set_flash(format!("refreshing {name}…"), false);
    vec![Effect::RefreshConnection { id }]
}

/// A forced refresh answered: the connection replaces its listed self and the status line says
/// what the provider did.
pub(super) fn on_refreshed(state: &mut State, id: &str, result: Result<Box<Connection>, ClientError>) -> Vec<Effect> {
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
            state.set_flash(format!("{outcome} ({})", describe(&connection)), failed);
            // A refresh scan in flight may have read the old connection: its swap must not undo this.
            if let Some(staging) = state.scan.as_mut().and_then(|scan| scan.staging.as_mut()) {
                staging.add_connections(vec![(*connection).clone()]);
            }
            show_connections(state, vec![*connection]);
        }
        Err(error) => {
            let name = listed.as_ref().map_or_else(|| for_terminal(id), describe);
            state.set_flash(format!("{} ({name})", refresh_failure(&error)), true);
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

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::tui::action::{Action, LoadEvent};
    use crate::tui::fixtures::{self, SIZE, code, finish_all, key, listed_ids, loaded_state, press, scan};
    use crate::tui::update::update;

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
        scan(&mut state, LoadEvent::ContextsPage(fixtures::contexts()));
        scan(&mut state, LoadEvent::ConnectionsPage { connections: fixtures::connections(), fallback: false });
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
}
