//! Live profile switching: the picker, the switch itself (everything of the old target is
//! dropped at once, so nothing of it can show under the new one) and the new target's arrival.

use super::scan;
use crate::tui::action::{Effect, Session};
use crate::tui::keymap::Command;
use crate::tui::state::{Mode, Settings, State, TargetInfo};

pub(super) fn open_picker(state: &mut State) {
    let current = state.profiles.iter().position(|name| state.target.label.starts_with(&format!("{name} · ")));
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
    reset(state, TargetInfo { label, read_only: state.target.read_only, ..TargetInfo::default() });
    state.switching = Some(profile.to_owned());
    state.set_flash(format!("opening profile {profile}…"), false);
    vec![Effect::SwitchProfile { profile: profile.to_owned() }]
}

pub(super) fn on_opened(state: &mut State, profile: String, result: Result<Box<Session>, String>) -> Vec<Effect> {
    if state.switching.as_deref() != Some(profile.as_str()) {
        // An older switch, overtaken by a newer one.
        state.needs_redraw = false;
        return Vec::new();
    }
    state.switching = None;
    match result {
        Ok(session) => {
            let Session { label, read_only, bundled, api_url, keymap, plugins, refresh, catalog_url } = *session;
            state.target = TargetInfo { label, read_only, bundled, api_url };
            state.keymap = keymap;
            state.plugins = plugins;
            state.settings = Settings { refresh };
            state.catalog_url = catalog_url;
            state.set_flash(format!("switched to profile {profile}"), false);
            scan::start_scan(state)
        }
        Err(error) => {
            let label = format!("{profile} · failed to open");
            reset(state, TargetInfo { label, read_only: state.target.read_only, ..TargetInfo::default() });
            let picker = state.keymap.first_key(Command::Profiles);
            state.set_flash(format!("cannot open profile {profile}: {error} · {picker} picks another"), true);
            Vec::new()
        }
    }
}

/// A state with nothing of the old target: no data, views, filters, scan, plugins or catalog.
/// The terminal size, skin, keymap, profile list and scan generation (so that late results of
/// the old scan stay ignored) carry over.
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
