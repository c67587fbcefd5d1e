//! Live profile switching: the picker, the switch itself (everything of the old target is
//! dropped at once, so nothing of it can show under the new one) and the new target's arrival.

use super::scan;
use crate::tui::action::{Effect, Session};
use crate::tui::keymap::Command;
use crate::tui::state::{Mode, Settings, State, TargetInfo};

pub(super) fn open_picker(state: &mut State) {
    let current = state.profiles.iter().position(|name| state.target.profile.as_ref() == Some(name));
    state.mode = Mode::Profiles { selected: current.unwrap_or(0) };
}

pub(super) fn on_picker_key(state: &mut State, command: Option<Command>) -> Vec<Effect> {
    let Mode::Profiles { selected } = state.mode else { return Vec::new() };
    let last = state.profiles.len().saturating_sub(1);
    match command {
        Some(Command::ProfilesDown) => state.mode = Mode::Profiles { selected: (selected + 1).min(last) },
        Some(Command::ProfilesUp) => state.mode = Mode::Profiles { selected: selected.saturating_sub(1) },
        Some(Command::ProfilesClose) => state.mode = Mode::Browse,
        Some(Command::ProfilesChoose) => {
            state.mode = Mode::Browse;
            if let Some(profile) = state.profiles.get(selected).cloned() {
                return switch_profile(state, &profile);
            }
        }
        _ => state.needs_redraw = false,
    }
    Vec::new()
}

/// Drops every piece of the current target's data and asks the runtime to open `profile`
/// (the `:profile` command and the picker both come here).
pub fn switch_profile(state: &mut State, profile: &str) -> Vec<Effect> {
    if !state.profiles.iter().any(|name| name == profile) {
        let known = state.profiles.join(", ");
        state.set_flash(format!("no profile named {profile:?} (profiles: {known})"), true);
        return Vec::new();
    }
    let label = format!("{profile} · opening…");
    let read_only = state.target.read_only;
    reset(state, TargetInfo { label, read_only, profile: Some(profile.to_owned()), ..TargetInfo::default() });
    state.switching = Some(profile.to_owned());
    state.set_flash(format!("opening profile {profile}…"), false);
    vec![Effect::SwitchProfile { profile: profile.to_owned() }]
}

/// The runtime opened (or failed to open) a switch's profile. The state is reset here too, so a
/// switch asked for by any command (the picker, `:profile`) leaves nothing of the old target.
pub(super) fn on_opened(state: &mut State, profile: String, result: Result<Box<Session>, String>) -> Vec<Effect> {
    if state.switching.as_ref().is_some_and(|switching| *switching != profile) {
        // An older switch, overtaken by a newer one.
        state.needs_redraw = false;
        return Vec::new();
    }
    match result {
        Ok(session) => {
            let Session {
                label,
                read_only,
                bundled,
                api_url,
                profile: opened,
                keymap,
                plugins,
                refresh,
                live_rescan,
                catalog_url,
            } = *session;
            reset(state, TargetInfo { label, read_only, bundled, api_url, profile: opened });
            state.keymap = keymap;
            state.plugins = plugins;
            state.settings = Settings { refresh, live_rescan };
            state.catalog_url = catalog_url;
            state.set_flash(format!("switched to profile {profile}"), false);
            scan::start_scan(state)
        }
        Err(error) => {
            let label = format!("{profile} · failed to open");
            let read_only = state.target.read_only;
            reset(state, TargetInfo { label, read_only, profile: Some(profile.clone()), ..TargetInfo::default() });
            let picker = state.keymap.first_key(Command::Profiles);
            state.set_flash(format!("cannot open profile {profile}: {error} · {picker} picks another"), true);
            Vec::new()
        }
    }
}

/// A state with nothing of the old target: no data, views, filters, scan, plugins, catalog or
/// pending switch. The terminal size, skin, keymap, profile list and scan generation (so that
/// late results of the old scan stay ignored) carry over.
fn reset(state: &mut State, target: TargetInfo) {
    let mut fresh = State::new(target, state.keymap.clone(), state.theme, state.settings.clone(), None);
    fresh.profiles = std::mem::take(&mut state.profiles);
    fresh.generation = state.generation;
    fresh.size = state.size;
    for (pane, old) in fresh.list_panes_mut().into_iter().zip(state.list_panes()) {
        pane.rows = old.rows;
    }
    *state = fresh;
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crossterm::event::KeyCode;

    use super::*;
    use crate::tui::action::{Action, LoadEvent};
    use crate::tui::fixtures::{SIZE, code, contexts, key, loaded_state};
    use crate::tui::keymap::Keymap;
    use crate::tui::update::update;

    fn with_profiles(state: &mut State) {
        state.profiles = vec!["prod".to_owned(), "staging".to_owned(), "demo".to_owned()];
    }

    fn session(label: &str) -> Box<Session> {
        Box::new(Session {
            label: label.to_owned(),
            read_only: true,
            bundled: false,
            api_url: "http://127.0.0.1:9/".to_owned(),
            profile: Some(label.to_owned()),
            keymap: Keymap::new(&Default::default(), true).unwrap(),
            plugins: Default::default(),
            refresh: Duration::from_secs(60),
            live_rescan: Duration::from_secs(600),
            catalog_url: None,
        })
    }

    #[test]
    fn the_picker_switches_and_drops_everything_of_the_old_target() {
        let mut state = loaded_state(SIZE);
        with_profiles(&mut state);
        update(&mut state, key('/'));
        update(&mut state, key('a'));
        update(&mut state, code(KeyCode::Enter));
        let old_generation = state.generation;
        update(&mut state, key('P'));
        assert!(matches!(state.mode, Mode::Profiles { selected: 2 }), "opens on the current profile, the demo");
        update(&mut state, key('k'));
        let effects = update(&mut state, code(KeyCode::Enter));
        assert_eq!(effects, vec![Effect::SwitchProfile { profile: "staging".to_owned() }]);
        assert!(state.data.contexts.is_empty() && state.data.connections.is_empty());
        assert!(state.contexts.view.is_empty() && state.contexts.filter.is_empty());
        assert!(state.scan.is_none() && state.catalog_url.is_none());
        assert_eq!(state.target.label, "staging · opening…");
        assert_eq!(state.contexts.rows, loaded_state(SIZE).contexts.rows, "pane heights carry over");

        // A late page of the old target's scan never shows under the new one.
        let late = Action::Scan { generation: old_generation, event: LoadEvent::ContextsPage(contexts()) };
        update(&mut state, late);
        assert!(state.data.contexts.is_empty());

        let effects =
            update(&mut state, Action::ProfileOpened { profile: "staging".into(), result: Ok(session("staging · x")) });
        assert_eq!(state.target.label, "staging · x");
        assert!(state.target.read_only, "the new target's read-only flag and keymap");
        assert_eq!(
            state.keymap.command_for(
                crate::tui::keymap::KeyMode::Browse,
                &crossterm::event::KeyEvent::from(KeyCode::Char('m'))
            ),
            None
        );
        assert_eq!(state.settings.refresh, Duration::from_secs(60));
        assert!(
            matches!(effects.as_slice(), [Effect::StartScan { generation, catalog: true }] if *generation > old_generation)
        );
    }

    #[test]
    fn a_switch_effect_from_another_command_still_drops_the_old_data() {
        let mut state = loaded_state(SIZE);
        with_profiles(&mut state);
        // As `:profile beta` would: the effect alone, no picker.
        let effects =
            update(&mut state, Action::ProfileOpened { profile: "staging".into(), result: Ok(session("staging")) });
        assert!(state.data.contexts.is_empty() && state.contexts.view.is_empty());
        assert_eq!(state.target.label, "staging");
        assert!(matches!(effects.as_slice(), [Effect::StartScan { .. }]));
    }

    #[test]
    fn an_overtaken_switch_is_ignored() {
        let mut state = loaded_state(SIZE);
        with_profiles(&mut state);
        switch_profile(&mut state, "prod");
        switch_profile(&mut state, "demo");
        let effects = update(&mut state, Action::ProfileOpened { profile: "prod".into(), result: Ok(session("prod")) });
        assert!(effects.is_empty());
        assert_eq!(state.target.label, "demo · opening…");
    }

    #[test]
    fn a_failed_profile_says_why_and_the_picker_is_the_way_back() {
        let mut state = loaded_state(SIZE);
        with_profiles(&mut state);
        switch_profile(&mut state, "prod");
        let result = Err("profile \"prod\" needs a publishable key".to_owned());
        let effects = update(&mut state, Action::ProfileOpened { profile: "prod".into(), result });
        assert!(effects.is_empty());
        assert_eq!(state.target.label, "prod · failed to open");
        let flash = state.flash.clone().unwrap();
        assert!(
            flash.error && flash.text.contains("needs a publishable key") && flash.text.contains("P picks another")
        );
        update(&mut state, key('P'));
        assert!(matches!(state.mode, Mode::Profiles { .. }));
        update(&mut state, key('k'));
        let effects = update(&mut state, code(KeyCode::Enter));
        assert_eq!(effects, vec![Effect::SwitchProfile { profile: "prod".to_owned() }]);
    }

    #[test]
    fn an_unknown_profile_is_refused_on_the_status_line() {
        let mut state = loaded_state(SIZE);
        with_profiles(&mut state);
        assert!(switch_profile(&mut state, "nope").is_empty());
        assert!(
            state.flash.as_ref().unwrap().text.contains("no profile named \"nope\" (profiles: prod, staging, demo)")
        );
        assert_eq!(state.data.contexts.len(), 3, "nothing was dropped");
        update(&mut state, key('P'));
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));
        assert_eq!(state.data.contexts.len(), 3, "closing the picker keeps the target");
    }
}
