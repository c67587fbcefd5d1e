//! The reducer: the only code that changes [`State`]. Pure apart from reading the wall clock
//! for "loaded at" stamps; every side effect is returned as an [`Effect`]. One module per
//! concern: `scan` (loading), `keys` (the keymap of each mode), `browse` (list commands),
//! `command` (the `:` line), `sort`, `mouse`, `mint` (the token form), `popup` (token and URL
//! popups), `profiles` (switching targets), `plugin` (running `[[plugins]]`), `refresh` (forced refresh of one
//! connection), `repair` (repair pages), `follow` (events applied as they arrive), `remote` (the
//! remote-backed panes of a large platform: after every action, the reads the screen needs).

mod browse;
mod command;
mod events;
mod follow;
mod keys;
mod mint;
mod mouse;
mod plugin;
mod popup;
pub mod profiles;
mod refresh;
mod remote;
mod repair;
mod scan;
mod sort;

use super::action::{Action, Effect};
use super::state::{Pane, State};
use super::ui::layout::list_rows;

pub fn update(state: &mut State, action: Action) -> Vec<Effect> {
    // The runtime draws at most one frame per interval, so a change may wait for its frame
    // while other actions arrive: one that changes nothing must not cancel the frame owed.
    let owed = state.needs_redraw && !matches!(action, Action::Drawn);
    let mut effects = handle(state, action);
    // Remote-backed panes read what the views now show, whatever moved them.
    effects.extend(remote::follow_screen(state));
    state.needs_redraw |= owed;
    effects
}

fn handle(state: &mut State, action: Action) -> Vec<Effect> {
    state.needs_redraw = true;
    match action {
        Action::Start => scan::start_scan(state),
        Action::Key(key) => keys::on_key(state, key),
        Action::Mouse(event) => mouse::on_mouse(state, event),
        Action::Resize { width, height } => {
            state.size = (width, height);
            for pane in [Pane::Contexts, Pane::Connectors, Pane::Connections] {
                let rows = list_rows(state.size, pane);
                let list = state.list_pane_mut(pane);
                list.rows = rows;
                list.view.scroll_into_view(rows);
            }
            Vec::new()
        }
        Action::Drawn => {
            state.needs_redraw = false;
            Vec::new()
        }
        Action::RefreshTick => {
            if state.scan.is_some() {
                // Never two scans at once: the running one schedules the next when it ends.
                state.needs_redraw = false;
                Vec::new()
            } else {
                scan::start_scan(state)
            }
        }
        Action::SpinnerTick => {
            state.spinner = state.spinner.wrapping_add(1);
            state.needs_redraw = state.is_loading();
            Vec::new()
        }
        Action::Scan { generation, event } => {
            if generation != state.generation || state.scan.is_none() {
                state.needs_redraw = false;
                return Vec::new();
            }
            scan::on_scan_event(state, event)
        }
        Action::BrowserOpened { url, result } => repair::on_browser_opened(state, url, result),
        Action::Minted(result) => mint::on_minted(state, result),
        Action::ConnectionRefreshed { id, result } => refresh::on_refreshed(state, &id, result),
        Action::Failed(message) => {
            state.set_flash(message, true);
            Vec::new()
        }
        Action::ProfileOpened { profile, result } => profiles::on_opened(state, profile, result),
        Action::PluginFinished { name, result } => {
            plugin::on_finished(state, &name, result);
            Vec::new()
        }
        Action::Terminate => browse::quit(state),
        Action::Follow(event) => follow::on_follow(state, event),
        Action::ClockTick => follow::on_clock(state),
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent};

    use super::*;
    use crate::tui::fixtures::{SIZE, loaded_state};

    #[test]
    fn a_resize_sets_every_pane_height_and_keeps_the_selection_in_view() {
        let mut state = loaded_state(SIZE);
        for pane in [Pane::Contexts, Pane::Connectors, Pane::Connections] {
            assert_eq!(state.list_pane(pane).rows, list_rows(SIZE, pane));
        }
        state.contexts.view.select(2, state.contexts.rows);
        update(&mut state, Action::Resize { width: 80, height: 8 });
        assert_eq!(state.size, (80, 8));
        assert_eq!(state.contexts.rows, list_rows((80, 8), Pane::Contexts));
        let (window, selected) = state.contexts.view.window(state.contexts.rows);
        assert!(selected.is_some() && window.len() <= state.contexts.rows, "the selection stays visible");
    }

    #[test]
    fn a_drawn_frame_clears_the_redraw_flag() {
        let mut state = loaded_state(SIZE);
        assert!(state.needs_redraw);
        update(&mut state, Action::Drawn);
        assert!(!state.needs_redraw);
    }

    #[test]
    fn a_change_waiting_for_its_frame_survives_actions_that_change_nothing() {
        let mut state = loaded_state(SIZE);
        update(&mut state, Action::Drawn);
        let key = |code| Action::Key(KeyEvent::from(code));
        update(&mut state, key(KeyCode::Down));
        assert!(state.needs_redraw, "the move is not drawn yet");
        update(&mut state, Action::SpinnerTick);
        update(&mut state, key(KeyCode::Char('z')));
        assert!(state.needs_redraw, "idle actions before the frame keep it owed");
        update(&mut state, Action::Drawn);
        assert!(!state.needs_redraw);
    }
}
