//! The `:` command line: editing, completion from what is loaded, history, and running a
//! command. Most commands reuse a browsing command; bad input answers on the status line.

use crossterm::event::{Event, KeyEvent};
use tui_input::backend::crossterm::EventHandler;

use super::{browse, sort};
use crate::tui::action::Effect;
use crate::tui::command::{COMMANDS, Completing, Parsed, parse, remember, starting_with};
use crate::tui::keymap::Command;
use crate::tui::state::{Mode, Pane, State};

pub(super) fn on_key(state: &mut State, command: Option<Command>, key: KeyEvent) -> Vec<Effect> {
    // Taken out of the state while it changes, so completion can read the rest of the state.
    let Mode::Command(mut line) = std::mem::take(&mut state.mode) else { return Vec::new() };
    match command {
        Some(Command::CommandRun) => return run(state, line.input.value().trim()),
        Some(Command::CommandCancel) => return Vec::new(),
        Some(Command::CommandComplete | Command::CommandCompleteBack) => {
            line.complete(|target| candidates(state, target), command == Some(Command::CommandCompleteBack));
        }
        Some(Command::CommandHistoryPrev) => line.browse_history(&state.command_history, true),
        Some(Command::CommandHistoryNext) => line.browse_history(&state.command_history, false),
        _ => {
            if line.input.handle_event(&Event::Key(key)).is_some() {
                line.completion = None;
            }
        }
    }
    state.mode = Mode::Command(line);
    Vec::new()
}

/// What tab offers for the word at the end of the line.
fn candidates(state: &State, target: &Completing) -> Vec<String> {
    let word = target.word;
    match (target.position, target.command) {
        (0, _) => {
            // The command of the focused list would change nothing, so it is offered last:
            // `:co` tab from the contexts list (where the dashboard opens) reaches the connectors.
            let unchanged = focus_command(state.focus);
            let names = COMMANDS.iter().map(|spec| spec.name);
            let others = names.clone().filter(|name| Some(*name) != unchanged);
            starting_with(others.chain(unchanged), word)
        }
        (1, "context") => starting_with(state.data.contexts.iter().map(|context| context.external_id.as_str()), word),
        (1, "connector") => starting_with(state.data.connectors.iter().map(|connector| connector.slug.as_str()), word),
        (1, "profile") => starting_with(state.profiles.iter().map(String::as_str), word),
        (1, "sort") => {
            let mut names: Vec<&str> = state.columns(state.focus).iter().map(|column| column.key.name()).collect();
            names.dedup();
            starting_with(names, word)
        }
        (2, "sort") => starting_with(["asc", "desc"], word),
        _ => Vec::new(),
    }
}

/// The command that focuses `pane`, if one does.
fn focus_command(pane: Pane) -> Option<&'static str> {
    match pane {
        Pane::Contexts => Some("contexts"),
        Pane::Connectors => Some("connectors"),
        Pane::Connections => Some("connections"),
        Pane::Detail => None,
    }
}

/// Runs a line typed after `:`, remembering it in the history.
fn run(state: &mut State, line: &str) -> Vec<Effect> {
    if line.is_empty() {
        return Vec::new();
    }
    remember(&mut state.command_history, line);
    let mut effects = vec![Effect::SaveCommandHistory(state.command_history.clone())];
    match parse(line) {
        Ok(parsed) => effects.extend(execute(state, parsed)),
        // The problem quotes what was typed, which may hold control characters.
        Err(problem) => state.set_flash(crate::sanitize::for_terminal(&problem), true),
    }
    effects
}

fn execute(state: &mut State, parsed: Parsed) -> Vec<Effect> {
    match parsed {
        Parsed::Contexts => state.focus = Pane::Contexts,
        Parsed::Connectors => state.focus = Pane::Connectors,
        Parsed::Connections => state.focus = Pane::Connections,
        Parsed::Triage if state.triage => state.focus = Pane::Connections,
        Parsed::Triage => return browse::on_command(state, Command::Triage),
        Parsed::Context(id) if state.remote.is_some() => {
            // Remote-backed: the server's search finds it among all contexts.
            state.focus = Pane::Contexts;
            browse::set_filter(state, id);
        }
        Parsed::Context(id) => match state.data.context_position(&id) {
            Some(position) => jump(state, Pane::Contexts, position),
            None => state.set_flash(format!("no context {}", crate::sanitize::for_terminal(&id)), true),
        },
        Parsed::Connector(slug) => match state.data.connector_position(&slug) {
            Some(position) => jump(state, Pane::Connectors, position),
            None => state.set_flash(format!("no connector {}", crate::sanitize::for_terminal(&slug)), true),
        },
        Parsed::Profile(None) => state.set_flash(format!("profiles: {}", state.profiles.join(", ")), false),
        Parsed::Profile(Some(profile)) if state.profiles.contains(&profile) => {
            state.set_flash(format!("switching to {profile}..."), false);
            return vec![Effect::SwitchProfile { profile }];
        }
        Parsed::Profile(Some(profile)) => {
            let known = state.profiles.join(", ");
            state.set_flash(format!("no profile {}; known: {known}", crate::sanitize::for_terminal(&profile)), true);
        }
        Parsed::Filter(text) => browse::set_filter(state, text),
        Parsed::Sort { column, descending } => sort::sort_by_name(state, &column, descending),
        Parsed::Refresh => return browse::on_command(state, Command::Refresh),
        Parsed::Help => state.mode = Mode::Help { scroll: 0 },
        Parsed::Quit => return browse::quit(state),
    }
    Vec::new()
}

/// Selects the item at data `position` of a context or connector list (clearing a filter that
/// hides it) and lists its connections.
pub(super) fn jump(state: &mut State, pane: Pane, position: usize) {
    if !state.list_pane(pane).view.index.contains(&position) {
        state.list_pane_mut(pane).filter.clear();
        state.rebuild_pane(pane);
    }
    let list = state.list_pane_mut(pane);
    let row = list.view.index.iter().position(|&item| item == position).unwrap_or(0);
    let rows = list.rows;
    list.view.select(row, rows);
    state.driver = pane;
    state.triage = false;
    state.rebuild_connections();
    state.focus = Pane::Connections;
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::tui::fixtures::{SIZE, code, command, key, listed, loaded_state, press};
    use crate::tui::state::Scope;
    use crate::tui::update::update;

    fn typed(state: &State) -> &str {
        match &state.mode {
            Mode::Command(line) => line.input.value(),
            other => panic!("not on the command line: {other:?}"),
        }
    }

    #[test]
    fn colon_co_tab_reaches_the_connectors_and_the_line_is_remembered() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key(':'));
        press(&mut state, "co");
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(typed(&state), "connectors", "the focused list's own command comes last");
        match &state.mode {
            Mode::Command(line) => assert_eq!(
                line.completion.as_ref().unwrap().candidates,
                ["connectors", "connections", "context", "connector", "contexts"]
            ),
            other => panic!("not on the command line: {other:?}"),
        }
        let effects = update(&mut state, code(KeyCode::Enter));
        assert_eq!(effects, vec![Effect::SaveCommandHistory(vec!["connectors".into()])]);
        assert!(matches!(state.mode, Mode::Browse));
        assert_eq!(state.focus, Pane::Connectors);
        command(&mut state, "contexts");
        update(&mut state, key(':'));
        update(&mut state, code(KeyCode::Up));
        assert_eq!(typed(&state), "contexts");
        update(&mut state, code(KeyCode::Up));
        assert_eq!(typed(&state), "connectors");
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));
        assert_eq!(state.focus, Pane::Contexts, "esc runs nothing");
        command(&mut state, "connectors");
        update(&mut state, key(':'));
        press(&mut state, "co");
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(typed(&state), "contexts", "from the connectors, the contexts come first");
    }

    #[test]
    fn arguments_complete_from_the_loaded_ids_slugs_and_profiles() {
        let mut state = loaded_state(SIZE);
        state.profiles = vec!["prod".into(), "staging".into(), "demo".into()];
        for (line, completed) in [
            ("context org_g", "context org_globex"),
            ("connector goo", "connector google-drive"),
            ("profile st", "profile staging"),
        ] {
            update(&mut state, key(':'));
            press(&mut state, line);
            update(&mut state, code(KeyCode::Tab));
            assert_eq!(typed(&state), completed);
            update(&mut state, code(KeyCode::Esc));
        }
        update(&mut state, key(':'));
        press(&mut state, "context nobody");
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(typed(&state), "context nobody", "nothing to complete leaves the line");
    }

    #[test]
    fn jumps_to_a_context_or_connector_even_past_a_filter() {
        let mut state = loaded_state(SIZE);
        command(&mut state, "filter acme");
        assert_eq!(listed(&state, Pane::Contexts), ["org_acme"]);
        command(&mut state, "context org_evil");
        assert_eq!(state.scope, Scope::Context("org_evil".into()));
        assert_eq!(state.focus, Pane::Connections);
        assert_eq!(state.filter_text(Pane::Contexts), "", "the filter hiding it is cleared");
        assert_eq!(state.selected_context().unwrap().external_id, "org_evil");
        command(&mut state, "connector github");
        assert_eq!(state.scope, Scope::Connector("github".into()));
        assert_eq!(listed(&state, Pane::Connections), ["c-acme-github", "c-globex-github"]);
        command(&mut state, "context org_nobody");
        let flash = state.flash.clone().unwrap();
        assert!(flash.error && flash.text == "no context org_nobody", "{flash:?}");
        assert_eq!(state.scope, Scope::Connector("github".into()), "a bad id changes nothing");
    }

    #[test]
    fn profile_switches_only_to_a_known_profile() {
        let mut state = loaded_state(SIZE);
        state.profiles = vec!["prod".into(), "demo".into()];
        let effects = command(&mut state, "profile demo");
        assert_eq!(effects[1..], [Effect::SwitchProfile { profile: "demo".into() }]);
        let effects = command(&mut state, "profile nope");
        assert_eq!(effects.len(), 1, "only the history is saved: {effects:?}");
        assert_eq!(state.flash.clone().unwrap().text, "no profile nope; known: prod, demo");
        command(&mut state, "profile");
        assert_eq!(state.flash.clone().unwrap().text, "profiles: prod, demo");
    }

    #[test]
    fn every_other_command_and_bad_input_answer_without_crashing() {
        let mut state = loaded_state(SIZE);
        command(&mut state, "triage");
        assert_eq!(state.scope, Scope::Triage);
        command(&mut state, "triage");
        assert_eq!(state.scope, Scope::Triage, ":triage again stays in triage");
        command(&mut state, "connections");
        assert_eq!(state.focus, Pane::Connections);
        let effects = command(&mut state, "refresh");
        assert!(matches!(effects[1], Effect::StartScan { .. }), "{effects:?}");
        command(&mut state, "help");
        assert!(matches!(state.mode, Mode::Help { .. }));
        update(&mut state, code(KeyCode::Esc));
        for (line, answer) in [
            ("bogus", "unknown command :bogus; :help lists them"),
            ("context", ":context needs a context id"),
            ("refresh now", ":refresh takes no arguments"),
            ("sort health upward", ":sort health: the order is asc or desc, not upward"),
            ("\u{1b}[2J", "unknown command :^[[2J; :help lists them"),
        ] {
            command(&mut state, line);
            assert!(matches!(state.mode, Mode::Browse));
            let flash = state.flash.clone().unwrap();
            assert!(flash.error && flash.text == answer, "{line}: {flash:?}");
        }
        assert_eq!(command(&mut state, "q")[1..], [Effect::Quit]);
        assert!(state.quit);
    }
}
