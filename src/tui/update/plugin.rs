//! Running a `[[plugins]]` command on the selection: its arguments filled from the selected
//! row, a confirmation first when the plugin asks for one, and its outcome on the status line.

use crossterm::event::KeyEvent;

use crate::model::Health;
use crate::tui::action::Effect;
use crate::tui::keymap::Command;
use crate::tui::plugins::{PlaceholderValues, PluginScope};
use crate::tui::state::{Mode, Pane, PendingPlugin, State};

/// The plugin bound to `key` for the focused pane's kind of row, if any; `None` leaves the key
/// unhandled.
pub(super) fn on_key(state: &mut State, key: &KeyEvent) -> Option<Vec<Effect>> {
    let scope = match state.focus {
        Pane::Contexts => PluginScope::Context,
        Pane::Connectors => PluginScope::Connector,
        Pane::Connections | Pane::Detail => PluginScope::Connection,
    };
    let plugin = state.plugins.for_key(key, scope)?.clone();
    let Some(values) = selection_values(state, scope) else {
        state.set_flash(format!("plugin {}: no {} selected", plugin.name, scope.name()), true);
        return Some(Vec::new());
    };
    let argv = match plugin.argv(&values) {
        Ok(argv) => argv,
        Err(missing) => {
            state.set_flash(format!("plugin {}: this {} has no {{{missing}}}", plugin.name, scope.name()), true);
            return Some(Vec::new());
        }
    };
    let pending = PendingPlugin { name: plugin.name, argv, foreground: plugin.foreground };
    if plugin.confirm {
        state.mode = Mode::Confirm(pending);
        return Some(Vec::new());
    }
    Some(run(state, pending))
}

pub(super) fn on_confirm_key(state: &mut State, command: Option<Command>) -> Vec<Effect> {
    let Mode::Confirm(pending) = &state.mode else { return Vec::new() };
    match command {
        Some(Command::ConfirmYes) => {
            let pending = pending.clone();
            state.mode = Mode::Browse;
            run(state, pending)
        }
        Some(Command::ConfirmNo) => {
            state.mode = Mode::Browse;
            Vec::new()
        }
        _ => {
            state.needs_redraw = false;
            Vec::new()
        }
    }
}

pub(super) fn on_finished(state: &mut State, name: &str, result: Result<String, String>) {
    match result {
        Ok(outcome) => state.set_flash(format!("plugin {name}: {outcome}"), false),
        Err(error) => state.set_flash(format!("plugin {name} failed: {error}"), true),
    }
}

fn run(state: &mut State, pending: PendingPlugin) -> Vec<Effect> {
    let PendingPlugin { name, argv, foreground } = pending;
    state.set_flash(format!("plugin {name} running…"), false);
    vec![Effect::RunPlugin { name, argv, foreground }]
}

/// What the selected row of this kind fills in; `None` without a selection.
fn selection_values(state: &State, scope: PluginScope) -> Option<PlaceholderValues> {
    let api_url = Some(state.target.api_url.clone()).filter(|url| !url.is_empty());
    Some(match scope {
        PluginScope::Context => PlaceholderValues {
            context: Some(state.selected_context()?.external_id.clone()),
            api_url,
            ..PlaceholderValues::default()
        },
        PluginScope::Connector => PlaceholderValues {
            connector: Some(state.selected_connector()?.slug.clone()),
            api_url,
            ..PlaceholderValues::default()
        },
        PluginScope::Connection => {
            let connection = state.selected_connection()?;
            let authorization = connection.authorization.as_ref();
            PlaceholderValues {
                context: connection.context.as_ref().map(|context| context.external_id.clone()),
                connector: Some(connection.connector.slug.clone()),
                connection_id: Some(connection.id.clone()),
                status: Some(Health::of(Some(connection)).word().to_owned()),
                error_code: authorization.and_then(|authorization| authorization.error_code.clone()),
                api_url,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::config::PluginConfig;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{SIZE, code, key, loaded_state, press};
    use crate::tui::keymap::Keymap;
    use crate::tui::plugins::Plugins;
    use crate::tui::update::update;

    fn with_plugins(state: &mut State) {
        let configs = [
            PluginConfig {
                name: "ticket".into(),
                key: "T".into(),
                scopes: vec!["connection".into()],
                command: vec![
                    "ticket".into(),
                    "--".into(),
                    "{connection_id}".into(),
                    "{error_code}".into(),
                    "{api_url}".into(),
                ],
                ..PluginConfig::default()
            },
            PluginConfig {
                name: "open".into(),
                key: "O".into(),
                scopes: vec!["context".into(), "connection".into()],
                command: vec!["xdg-open".into(), "ctx={context}".into()],
                foreground: true,
                confirm: true,
                ..PluginConfig::default()
            },
        ];
        state.plugins = Plugins::new(&configs, &Keymap::default(), false).unwrap();
    }

    #[test]
    fn a_plugin_key_runs_it_on_the_selected_connection() {
        let mut state = loaded_state(SIZE);
        with_plugins(&mut state);
        update(&mut state, code(KeyCode::Enter));
        press(&mut state, "jj");
        assert_eq!(state.selected_connection().unwrap().id, "c-acme-drive");
        let effects = update(&mut state, key('T'));
        assert_eq!(
            effects,
            vec![Effect::RunPlugin {
                name: "ticket".into(),
                argv: vec!["ticket", "--", "c-acme-drive", "invalid_grant", "http://127.0.0.1:4000/"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
                foreground: false,
            }]
        );
        update(
            &mut state,
            Action::PluginFinished { name: "ticket".into(), result: Err("it ended with exit status: 3".into()) },
        );
        let flash = state.flash.clone().unwrap();
        assert!(flash.error && flash.text == "plugin ticket failed: it ended with exit status: 3");
    }

    #[test]
    fn a_plugin_does_not_run_without_the_values_it_needs_or_outside_its_scopes() {
        let mut state = loaded_state(SIZE);
        with_plugins(&mut state);
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.selected_connection().unwrap().id, "c-acme-slack");
        assert!(update(&mut state, key('T')).is_empty(), "an active connection has no error code");
        assert!(state.flash.as_ref().unwrap().text.contains("this connection has no {error_code}"));
        update(&mut state, code(KeyCode::Esc));
        update(&mut state, code(KeyCode::Tab));
        assert!(update(&mut state, key('T')).is_empty(), "no connector plugin on T");
    }

    #[test]
    fn a_confirmed_plugin_asks_first_and_no_cancels() {
        let mut state = loaded_state(SIZE);
        with_plugins(&mut state);
        assert!(update(&mut state, key('O')).is_empty());
        let Mode::Confirm(pending) = &state.mode else { panic!("asks first: {:?}", state.mode) };
        assert_eq!(pending.argv, ["xdg-open", "ctx=org_acme"]);
        update(&mut state, key('n'));
        assert!(matches!(state.mode, Mode::Browse));
        update(&mut state, key('O'));
        let effects = update(&mut state, key('y'));
        assert_eq!(
            effects,
            vec![Effect::RunPlugin {
                name: "open".into(),
                argv: vec!["xdg-open".into(), "ctx=org_acme".into()],
                foreground: true
            }]
        );
        assert!(matches!(state.mode, Mode::Browse));
    }
}
