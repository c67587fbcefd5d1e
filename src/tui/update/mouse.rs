//! The mouse (unless `--no-mouse`): a click selects a row and focuses its pane, a click on a
//! column header sorts by that column (again: the other way), the wheel moves through the
//! pane under the pointer. Only while browsing; the popups and prompts keep the keyboard.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::{Position, Rect};

use super::{browse, sort};
use crate::tui::action::Effect;
use crate::tui::columns::column_at;
use crate::tui::state::{Mode, Pane, State};
use crate::tui::ui::layout::areas;

/// Rows one wheel notch moves.
const WHEEL_STEP: isize = 3;

pub(super) fn on_mouse(state: &mut State, event: MouseEvent) -> Vec<Effect> {
    let at = Position::new(event.column, event.row);
    let areas = areas(Rect::new(0, 0, state.size.0, state.size.1));
    let pane = Pane::ALL.into_iter().find(|&pane| areas.of(pane).contains(at));
    let (Mode::Browse, Some(pane)) = (&state.mode, pane) else {
        state.needs_redraw = false;
        return Vec::new();
    };
    let area = areas.of(pane);
    // The detail pane moves through the connections, like its keys.
    let list = if pane == Pane::Detail { Pane::Connections } else { pane };
    let rows = state.list_pane(list).rows;
    match event.kind {
        MouseEventKind::Down(MouseButton::Left) => click(state, pane, area, at),
        MouseEventKind::ScrollDown => browse::move_selection(state, list, &|view| view.move_by(WHEEL_STEP, rows)),
        MouseEventKind::ScrollUp => browse::move_selection(state, list, &|view| view.move_by(-WHEEL_STEP, rows)),
        _ => state.needs_redraw = false,
    }
    Vec::new()
}

fn click(state: &mut State, pane: Pane, area: Rect, at: Position) {
    state.focus = pane;
    if pane == Pane::Detail {
        return;
    }
    // Inside the borders: the header line, then the rows.
    let inner = Rect::new(area.x + 1, area.y + 1, area.width.saturating_sub(2), area.height.saturating_sub(2));
    if at.y == inner.y {
        if let Some(column) = column_at(&state.columns(pane), inner, at.x) {
            sort::sort_by_column(state, pane, column);
        }
        return;
    }
    let list = state.list_pane(pane);
    let row = list.view.offset + usize::from(at.y.saturating_sub(inner.y + 1));
    if at.y > inner.y && at.y < inner.y + inner.height && row < list.view.len() {
        let rows = list.rows;
        browse::move_selection(state, pane, &|view| view.select(row, rows));
    }
}

#[cfg(test)]
mod tests {
    use crossterm::event::{KeyModifiers, MouseButton, MouseEvent, MouseEventKind};

    use super::*;
    use crate::model::Health;
    use crate::tui::action::Action;
    use crate::tui::columns::{Sort, SortColumn};
    use crate::tui::fixtures::{SIZE, key, listed, loaded_state};
    use crate::tui::state::Scope;
    use crate::tui::update::update;

    fn mouse(state: &mut State, kind: MouseEventKind, column: u16, row: u16) {
        update(state, Action::Mouse(MouseEvent { kind, column, row, modifiers: KeyModifiers::NONE }));
    }

    fn click(state: &mut State, column: u16, row: u16) {
        mouse(state, MouseEventKind::Down(MouseButton::Left), column, row);
    }

    fn pane_area(pane: Pane) -> Rect {
        areas(Rect::new(0, 0, SIZE.0, SIZE.1)).of(pane)
    }

    #[test]
    fn a_click_selects_the_row_under_it_and_focuses_its_pane() {
        let mut state = loaded_state(SIZE);
        let connectors = pane_area(Pane::Connectors);
        // Border, header, then the rows: the third row is google-drive.
        click(&mut state, connectors.x + 3, connectors.y + 4);
        assert_eq!(state.focus, Pane::Connectors);
        assert_eq!(state.selected_connector().unwrap().slug, "google-drive");
        assert_eq!(state.scope, Scope::Connector("google-drive".into()), "the clicked list drives the connections");
        let contexts = pane_area(Pane::Contexts);
        click(&mut state, contexts.x + 3, contexts.y + 3);
        assert_eq!(
            (state.focus, state.selected_context().unwrap().external_id.as_str()),
            (Pane::Contexts, "org_globex")
        );
        click(&mut state, contexts.x + 3, contexts.y + 10);
        assert_eq!(state.selected_context().unwrap().external_id, "org_globex", "below the last row selects nothing");
        let detail = pane_area(Pane::Detail);
        click(&mut state, detail.x + 3, detail.y + 3);
        assert_eq!(state.focus, Pane::Detail);
    }

    #[test]
    fn a_click_on_a_header_sorts_by_that_column_and_again_flips_it() {
        let mut state = loaded_state(SIZE);
        let connectors = pane_area(Pane::Connectors);
        let inner = Rect::new(connectors.x + 1, connectors.y + 1, connectors.width - 2, connectors.height - 2);
        let header = state.columns(Pane::Connectors);
        let layout = ratatui::layout::Layout::horizontal(header.iter().map(|column| column.width))
            .spacing(crate::tui::columns::COLUMN_SPACING)
            .split(inner);
        let errors = layout[header.iter().position(|column| column.key == SortColumn::Count(Health::Error)).unwrap()];
        click(&mut state, errors.x + 1, inner.y);
        assert_eq!(state.connectors.sort, Some(Sort { column: SortColumn::Count(Health::Error), descending: true }));
        assert_eq!(listed(&state, Pane::Connectors), ["slack", "google-drive", "github"]);
        click(&mut state, errors.x + 1, inner.y);
        assert_eq!(listed(&state, Pane::Connectors), ["github", "slack", "google-drive"]);
        click(&mut state, inner.x + 1, inner.y);
        assert_eq!(listed(&state, Pane::Connectors), ["github", "google-drive", "slack"], "by name");
    }

    #[test]
    fn the_wheel_moves_the_pane_under_the_pointer_and_only_while_browsing() {
        let mut state = loaded_state(SIZE);
        let contexts = pane_area(Pane::Contexts);
        mouse(&mut state, MouseEventKind::ScrollDown, contexts.x + 2, contexts.y + 2);
        assert_eq!(state.selected_context().unwrap().external_id, "org_evil", "three rows down, clamped");
        mouse(&mut state, MouseEventKind::ScrollUp, contexts.x + 2, contexts.y + 2);
        assert_eq!(state.selected_context().unwrap().external_id, "org_acme");
        let connections = pane_area(Pane::Connections);
        mouse(&mut state, MouseEventKind::ScrollDown, connections.x + 2, connections.y + 2);
        assert_eq!(state.selected_connection().unwrap().id, "c-acme-drive");
        assert_eq!(state.focus, Pane::Contexts, "the wheel does not move the focus");
        update(&mut state, key('?'));
        click(&mut state, contexts.x + 3, contexts.y + 3);
        assert!(matches!(state.mode, Mode::Help { .. }));
        assert_eq!(state.selected_context().unwrap().external_id, "org_acme", "popups keep the mouse out");
    }
}
