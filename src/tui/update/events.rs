//! The Events view: opening it (the chart's history is read again), moving through the
//! events, its `/` filter typed in place, and Enter, which goes to the event's connection.

use crossterm::event::{Event as TermEvent, KeyEvent};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::command::jump;
use crate::tui::action::Effect;
use crate::tui::keymap::Command;
use crate::tui::state::{EventsView, Mode, Pane, State};
use crate::tui::ui::layout::events_rows;

pub(super) fn open(state: &mut State) -> Vec<Effect> {
    let mut view = EventsView::default();
    view.rebuild(&state.live.events, None, events_rows(state));
    state.mode = Mode::Events(view);
    if state.live.stats_unsupported || state.live.stats_loading {
        return Vec::new();
    }
    state.live.stats_loading = true;
    vec![Effect::LoadStats]
}

/// Rebuilds the open view's list after events arrived, keeping its selection.
pub(super) fn refresh_view(state: &mut State) {
    let rows = events_rows(state);
    if let Mode::Events(view) = &mut state.mode {
        let keep = view.selected_id(&state.live.events).map(str::to_owned);
        view.rebuild(&state.live.events, keep.as_deref(), rows);
    }
}

pub(super) fn on_key(state: &mut State, command: Option<Command>, key: KeyEvent) -> Vec<Effect> {
    let rows = events_rows(state);
    let Mode::Events(view) = &mut state.mode else { return Vec::new() };
    if let Some(input) = view.editing.as_mut() {
        match command {
            Some(Command::FilterApply) => view.editing = None,
            Some(Command::FilterClear) => {
                view.editing = None;
                view.filter.clear();
            }
            _ => {
                if input.handle_event(&TermEvent::Key(key)).is_some() {
                    view.filter = input.value().to_owned();
                }
            }
        }
        let keep = view.selected_id(&state.live.events).map(str::to_owned);
        view.rebuild(&state.live.events, keep.as_deref(), rows);
        return Vec::new();
    }
    let list = &mut view.view;
    let page = rows as isize;
    match command {
        Some(Command::EventsDown) => list.move_by(1, rows),
        Some(Command::EventsUp) => list.move_by(-1, rows),
        Some(Command::EventsTop) => list.select(0, rows),
        Some(Command::EventsBottom) => list.select(usize::MAX, rows),
        Some(Command::EventsPageDown) => list.move_by(page, rows),
        Some(Command::EventsPageUp) => list.move_by(-page, rows),
        Some(Command::EventsFilter) => view.editing = Some(Input::new(view.filter.clone())),
        Some(Command::EventsClose) if !view.filter.is_empty() => {
            view.filter.clear();
            view.rebuild(&state.live.events, None, rows);
        }
        Some(Command::EventsClose) => state.mode = Mode::Browse,
        Some(Command::EventsJump) => go_to_connection(state),
        _ => state.needs_redraw = false,
    }
    Vec::new()
}

/// Closes the view on the selected event's connection: its context selected (past any filter
/// that hid it) and the connection selected in the connections pane.
fn go_to_connection(state: &mut State) {
    let Mode::Events(view) = &state.mode else { return };
    let Some(event) = view.view.selected_item().and_then(|position| state.live.events.get(position)) else { return };
    let loaded = event.connection.as_deref().and_then(|id| state.data.connection_position(id));
    let Some(position) = loaded else {
        let what = if event.connection.is_some() { "its connection is not loaded" } else { "it names no connection" };
        state.set_flash(format!("this event cannot be opened: {what}"), true);
        return;
    };
    let context = state.data.connections[position].context.as_ref().map(|context| context.external_id.clone());
    let Some(context) = context.and_then(|id| state.data.context_position(&id)) else {
        state.set_flash("this event's context is not loaded", true);
        return;
    };
    state.mode = Mode::Browse;
    jump(state, Pane::Contexts, context);
    if !state.connections.view.index.contains(&position) {
        state.connections.filter.clear();
        state.rebuild_connections();
    }
    let row = state.connections.view.index.iter().position(|&item| item == position).unwrap_or(0);
    let rows = state.connections.rows;
    state.connections.view.select(row, rows);
}

#[cfg(test)]
mod tests {
    use crossterm::event::KeyCode;

    use super::*;
    use crate::model::Event;
    use crate::tui::action::Action;
    use crate::tui::fixtures::{SIZE, code, key, loaded_state, press};
    use crate::tui::live::FollowEvent;
    use crate::tui::state::Scope;
    use crate::tui::update::update;

    fn event(id: &str, event_type: &str, context: &str, connection: Option<&str>) -> Event {
        Event {
            id: id.into(),
            event_type: event_type.into(),
            context: Some(context.into()),
            connection: connection.map(str::to_owned),
            ..Event::default()
        }
    }

    fn listed(state: &State) -> Vec<String> {
        let Mode::Events(view) = &state.mode else { panic!("the Events view is closed") };
        view.view.index.iter().map(|&position| state.live.events[position].id.clone()).collect()
    }

    #[test]
    fn the_view_lists_newest_first_filters_and_follows_new_events() {
        let mut state = loaded_state(SIZE);
        let history = vec![
            event("e1", "context.created", "org_new", None),
            event("e2", "connection.error", "org_globex", Some("c-globex-slack")),
        ];
        update(&mut state, Action::Follow(FollowEvent::Events { events: history, apply: false }));
        update(&mut state, Action::Follow(FollowEvent::Stats(Ok(Box::default()))));
        assert_eq!(update(&mut state, key('E')), vec![Effect::LoadStats], "opening reads the chart's history again");
        assert_eq!(listed(&state), ["e2", "e1"]);
        press(&mut state, "/type:error");
        assert_eq!(listed(&state), ["e2"]);
        assert!(!state.quit);
        update(&mut state, code(KeyCode::Enter));
        let later = event("e3", "connection.error", "org_acme", Some("c-acme-slack"));
        update(&mut state, Action::Follow(FollowEvent::Events { events: vec![later], apply: true }));
        assert_eq!(listed(&state), ["e3", "e2"], "new events show at once, filtered");
        update(&mut state, code(KeyCode::Esc));
        assert_eq!(listed(&state).len(), 3, "esc clears the filter first");
        update(&mut state, code(KeyCode::Esc));
        assert!(matches!(state.mode, Mode::Browse));
    }

    #[test]
    fn enter_goes_to_the_events_connection_past_filters() {
        let mut state = loaded_state(SIZE);
        press(&mut state, "/acme");
        update(&mut state, code(KeyCode::Enter));
        let events = vec![
            event("e1", "connection.error", "org_globex", Some("c-globex-github")),
            event("e2", "key.created", "", None),
        ];
        update(&mut state, Action::Follow(FollowEvent::Events { events, apply: false }));
        update(&mut state, key('E'));
        update(&mut state, key('j'));
        update(&mut state, code(KeyCode::Enter));
        assert!(matches!(state.mode, Mode::Browse));
        assert_eq!(state.scope, Scope::Context("org_globex".into()), "the contexts filter that hid it is cleared");
        assert_eq!(state.selected_connection().map(|connection| connection.id.as_str()), Some("c-globex-github"));
        assert_eq!(state.focus, Pane::Connections);

        update(&mut state, key('E'));
        update(&mut state, code(KeyCode::Enter));
        assert!(state.flash.as_ref().is_some_and(|flash| flash.text.contains("names no connection")));
        assert!(matches!(state.mode, Mode::Events(_)));
    }
}
