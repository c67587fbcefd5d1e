//! The browsing commands: moving through the lists, panes, drilling in and backing out,
//! filters, triage, copying, and the commands that start other work (refresh, repair, mint).

use tui_input::Input;

use super::{refresh, repair, scan, sort};
use crate::tui::action::Effect;
use crate::tui::command::CommandLine;
use crate::tui::keymap::Command;
use crate::tui::mint::MintForm;
use crate::tui::state::{ListView, Mode, Pane, State};

pub(super) fn set_filter(state: &mut State, text: String) {
    state.list_pane_mut(state.focus).filter = text;
    match state.focus {
        Pane::Contexts => state.rebuild_contexts(),
        Pane::Connectors => state.rebuild_connectors(),
        _ => {}
    }
    state.rebuild_connections();
}

pub(super) fn quit(state: &mut State) -> Vec<Effect> {
    state.quit = true;
    vec![Effect::Quit]
}

/// Moves the selection of `pane`'s list; a context or connector list then drives the
/// connections pane.
pub(super) fn move_selection(state: &mut State, pane: Pane, step: &dyn Fn(&mut ListView)) {
    step(&mut state.list_pane_mut(pane).view);
    if matches!(pane, Pane::Contexts | Pane::Connectors) {
        state.driver = pane;
        state.triage = false;
        state.rebuild_connections();
    }
}

pub(super) fn on_command(state: &mut State, command: Command) -> Vec<Effect> {
    let pane = state.focus;
    let rows = state.list_pane(pane).rows;
    let moved = |state: &mut State, step: &dyn Fn(&mut ListView)| move_selection(state, pane, step);
    let page = rows as isize;
    match command {
        Command::MoveDown => moved(state, &|list| list.move_by(1, rows)),
        Command::MoveUp => moved(state, &|list| list.move_by(-1, rows)),
        Command::Top => moved(state, &|list| list.select(0, rows)),
        Command::Bottom => moved(state, &|list| list.select(usize::MAX, rows)),
        Command::PageDown => moved(state, &|list| list.move_by(page, rows)),
        Command::PageUp => moved(state, &|list| list.move_by(-page, rows)),
        Command::NextPane | Command::PrevPane => {
            let position = Pane::ALL.iter().position(|candidate| *candidate == state.focus).unwrap_or(0);
            let step = if command == Command::NextPane { 1 } else { Pane::ALL.len() - 1 };
            state.focus = Pane::ALL[(position + step) % Pane::ALL.len()];
        }
        Command::DrillIn => match state.focus {
            Pane::Contexts | Pane::Connectors => {
                state.driver = state.focus;
                state.triage = false;
                state.rebuild_connections();
                state.focus = Pane::Connections;
            }
            Pane::Connections => state.focus = Pane::Detail,
            Pane::Detail => state.needs_redraw = false,
        },
        Command::Back => {
            if !state.filter_text(pane).is_empty() {
                set_filter(state, String::new());
            } else {
                match state.focus {
                    Pane::Detail => state.focus = Pane::Connections,
                    Pane::Connections if state.triage => {
                        state.triage = false;
                        state.rebuild_connections();
                        state.focus = state.driver;
                    }
                    Pane::Connections => state.focus = state.driver,
                    Pane::Contexts | Pane::Connectors => state.flash = None,
                }
            }
        }
        Command::CommandLine => state.mode = Mode::Command(CommandLine::default()),
        Command::Sort => sort::cycle(state),
        Command::SortFlip => sort::flip(state),
        Command::Filter => state.mode = Mode::Filter(Input::new(state.filter_text(pane).to_owned())),
        Command::Triage => {
            state.triage = !state.triage;
            state.rebuild_connections();
            if state.triage {
                state.focus = Pane::Connections;
                let count = state.data.needing_attention().len();
                state.set_flash(format!("triage: {count} connections need attention across all contexts"), false);
            } else {
                state.focus = state.driver;
                state.flash = None;
            }
        }
        Command::Refresh => {
            if state.scan.is_some() {
                state.set_flash("a refresh is already running", false);
            } else {
                return scan::start_scan(state);
            }
        }
        Command::RefreshConnection => return refresh::refresh_connection(state),
        Command::OpenRepair => return repair::open_repair(state),
        Command::Copy => {
            let text = match state.focus {
                Pane::Contexts => state.selected_context().map(|context| context.external_id.clone()),
                Pane::Connectors => state.selected_connector().map(|connector| connector.slug.clone()),
                Pane::Connections => state.selected_connection().map(|connection| connection.id.clone()),
                Pane::Detail => state.selected_connection().map(|connection| {
                    state.catalog_connector_url(&connection.connector.slug).unwrap_or_else(|| connection.id.clone())
                }),
            };
            match text {
                Some(text) => {
                    state.set_flash(format!("copied {} (OSC 52)", crate::sanitize::for_terminal(&text)), false);
                    return vec![Effect::Copy(text)];
                }
                None => state.set_flash("nothing selected to copy", true),
            }
        }
        Command::Mint => {
            let external_id = match state.focus {
                Pane::Connectors => None,
                Pane::Contexts => state.selected_context().map(|context| context.external_id.clone()),
                Pane::Connections | Pane::Detail => state
                    .selected_connection()
                    .and_then(|connection| connection.context.as_ref())
                    .map(|context| context.external_id.clone()),
            };
            state.mode = Mode::Mint(MintForm::new(external_id.as_deref()));
        }
        Command::Help => state.mode = Mode::Help { scroll: 0 },
        // Quitting is handled with the keys (it needs no pane); other modes' commands never
        // come from the browsing keymap.
        _ => state.needs_redraw = false,
    }
    Vec::new()
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::model::Health;
    use crate::tui::action::{Action, LoadEvent};
    use crate::tui::fixtures::{self, CATALOG, SIZE, code, key, listed_ids, loaded_state, new_state, press, scan};
    use crate::tui::state::Scope;
    use crate::tui::ui::layout::list_rows;
    use crate::tui::update::update;

    #[test]
    fn panes_cycle_drill_in_and_back_out() {
        let mut state = loaded_state(SIZE);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(state.focus, Pane::Connectors);
        update(&mut state, code(KeyCode::BackTab));
        assert_eq!(state.focus, Pane::Contexts);
        update(&mut state, key('j'));
        assert_eq!(state.scope, Scope::Context("org_globex".into()));
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.focus, Pane::Connections);
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.focus, Pane::Detail);
        update(&mut state, key('k'));
        assert_eq!(state.selected_connection().unwrap().id, "c-globex-slack", "the detail pane moves the connection");
        update(&mut state, code(KeyCode::Esc));
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.focus, Pane::Contexts);
        // Drilling into a connector lists its connections across contexts.
        update(&mut state, code(KeyCode::Tab));
        press(&mut state, "G");
        update(&mut state, code(KeyCode::Enter));
        assert_eq!(state.scope, Scope::Connector("google-drive".into()));
        assert_eq!(listed_ids(&state), ["c-acme-drive"]);
    }

    #[test]
    fn triage_lists_exactly_the_connections_needing_attention() {
        let mut state = loaded_state(SIZE);
        update(&mut state, key('t'));
        assert_eq!(state.scope, Scope::Triage);
        assert_eq!(state.focus, Pane::Connections);
        assert_eq!(listed_ids(&state), ["c-acme-drive", "c-globex-github", "c-evil-slack"]);
        for connection in state.connections.view.index.iter().map(|&position| &state.data.connections[position]) {
            assert!(Health::of(Some(connection)).needs_attention());
        }
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(state.scope, Scope::Context("org_acme".into()));
    }

    #[test]
    fn copy_takes_what_the_focused_pane_selects() {
        let mut state = loaded_state(SIZE);
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("org_acme".into())]);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("slack".into())]);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy("c-acme-slack".into())]);
        update(&mut state, code(KeyCode::Tab));
        assert_eq!(update(&mut state, key('y')), vec![Effect::Copy(format!("{CATALOG}/connectors/slack"))]);
    }

    #[test]
    fn a_hundred_thousand_rows_scroll_by_window() {
        let mut state = new_state(SIZE);
        update(&mut state, Action::Start);
        let many = (0..100_000).map(|n| fixtures::context(&format!("ctx-{n:06}"), "Tenant")).collect();
        scan(&mut state, LoadEvent::ContextsPage(many));
        press(&mut state, "G");
        let rows = list_rows(SIZE, Pane::Contexts);
        assert_eq!(state.contexts.view.selected, 99_999);
        let (window, selected) = state.contexts.view.window(rows);
        assert_eq!(window.len(), rows);
        assert_eq!(selected, Some(rows - 1));
        update(&mut state, code(KeyCode::PageUp));
        assert_eq!(state.contexts.view.selected, 99_999 - rows);
        assert_eq!(state.contexts.view.offset, 99_999 - rows, "paging up scrolls by one window");
    }
}
