//! Keys: ctrl-c quits from anywhere; every other key is looked up in the keymap of the current
//! mode and handed to that mode's handler. Keys no binding claims edit the text of the filter
//! and of the mint form.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::EventHandler;

use super::{browse, command as command_line, events, mint, plugin, popup, profiles, sort};
use crate::tui::action::Effect;
use crate::tui::keymap::Command;
use crate::tui::state::{Mode, State};
use crate::tui::ui;

/// Lines the help scrolls by per page.
const HELP_PAGE: u16 = 10;

pub(super) fn on_key(state: &mut State, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return browse::quit(state);
    }
    let command = state.keymap.command_for(state.mode.key_mode(), &key);
    match &mut state.mode {
        Mode::Browse => match command {
            Some(Command::Quit) => browse::quit(state),
            Some(Command::Profiles) => {
                profiles::open_picker(state);
                Vec::new()
            }
            Some(Command::Events) => events::open(state),
            Some(Command::SortByColumn) => {
                sort::by_column_key(state, &key);
                Vec::new()
            }
            Some(command) => browse::on_command(state, command),
            None => plugin::on_key(state, &key).unwrap_or_else(|| {
                state.needs_redraw = false;
                Vec::new()
            }),
        },
        Mode::Filter(input) => {
            match command {
                Some(Command::FilterApply) => state.mode = Mode::Browse,
                Some(Command::FilterClear) => {
                    state.mode = Mode::Browse;
                    browse::set_filter(state, String::new());
                }
                _ => {
                    if input.handle_event(&Event::Key(key)).is_some() {
                        let text = input.value().to_owned();
                        browse::set_filter(state, text);
                    }
                }
            }
            Vec::new()
        }
        Mode::Command(_) => command_line::on_key(state, command, key),
        Mode::Help { scroll } => {
            let scroll = *scroll;
            let last = ui::help_max_scroll(state);
            state.mode = match command {
                Some(Command::HelpClose) => Mode::Browse,
                Some(Command::HelpScrollDown) => Mode::Help { scroll: scroll.saturating_add(1).min(last) },
                Some(Command::HelpScrollUp) => Mode::Help { scroll: scroll.saturating_sub(1) },
                Some(Command::HelpPageDown) => Mode::Help { scroll: scroll.saturating_add(HELP_PAGE).min(last) },
                Some(Command::HelpPageUp) => Mode::Help { scroll: scroll.saturating_sub(HELP_PAGE) },
                _ => Mode::Help { scroll },
            };
            Vec::new()
        }
        Mode::Mint(_) => mint::on_form_key(state, command, key),
        Mode::Minted(_) | Mode::Url { .. } => popup::on_popup_key(state, command),
        Mode::Profiles { .. } => profiles::on_picker_key(state, command),
        Mode::Confirm(_) => plugin::on_confirm_key(state, command),
        Mode::Events(_) => events::on_key(state, command, key),
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

    use super::*;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{SIZE, code, key, loaded_state, press};
    use crate::tui::keymap::Keymap;
    use crate::tui::state::Pane;
    use crate::tui::update::update;

    #[test]
    fn the_filter_narrows_live_and_esc_clears_it() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('/'));
        press(&mut state, "status:error");
        assert!(matches!(state.mode, Mode::Filter(_)));
        let ids: Vec<&str> =
            state.contexts.view.index.iter().map(|&p| state.data.contexts[p].external_id.as_str()).collect();
        assert_eq!(ids, ["org_acme", "org_evil"]);
        press(&mut state, "q");
        assert!(!state.quit, "typing q into the filter does not quit");
        update(&mut state, code(KeyCode::Backspace));
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.filter_text(Pane::Contexts), "status:error");
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.filter_text(Pane::Contexts), "");
        assert_eq!(state.contexts.view.len(), 3);
    }

    #[test]
    fn help_scrolls_when_it_does_not_fit_and_stops_at_its_end() {
        let mut state = loaded_state((80, 12));
        update(&mut state, key('?'));
        let last = ui::help_max_scroll(&state);
        assert!(last > 0, "12 rows cannot hold every key");
        for _ in 0..100 {
            update(&mut state, key('j'));
        }
        assert!(matches!(state.mode, Mode::Help { scroll } if scroll == last));
        update(&mut state, key('k'));
        assert!(matches!(state.mode, Mode::Help { scroll } if scroll == last - 1));
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));

        let mut roomy = loaded_state((120, 90));
        update(&mut roomy, key('?'));
        assert_eq!(ui::help_max_scroll(&roomy), 0, "90 rows hold every key and command");
        update(&mut roomy, key('j'));
        assert!(matches!(roomy.mode, Mode::Help { scroll: 0 }));
    }

    #[test]
    fn ctrl_c_quits_from_any_mode() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('/'));
        let effects = update(&mut state, Action::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)));
        assert_eq!(effects, vec![Effect::Quit]);
        assert!(state.quit);
    }

    #[test]
    fn idle_inputs_do_not_redraw() {
        let mut state = loaded_state(SIZE);
        state.needs_redraw = false;
        update(&mut state, key('z'));
        assert!(!state.needs_redraw, "an unbound key");
        update(&mut state, Action::SpinnerTick);
        assert!(!state.needs_redraw, "the spinner while nothing loads");
    }

    #[test]
    fn help_keys_come_from_the_keymap() {
        let overrides = crate::config::KeyOverrides::from([(
            "help".to_owned(),
            crate::config::KeyOverride::Mode([("close".to_owned(), vec!["x".to_owned()])].into()),
        )]);
        let mut state = loaded_state((80, 12));
        state.keymap = Keymap::new(&overrides, false).unwrap();
        update(&mut state, key('?'));
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Help { .. }), "esc no longer closes");
        update(&mut state, code(KeyCode::PageDown));
        assert!(matches!(state.mode, Mode::Help { scroll } if scroll > 0), "the other defaults stay");
        update(&mut state, key('x'));
        assert!(matches!(state.mode, Mode::Browse));
    }
}
