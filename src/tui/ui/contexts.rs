use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::widgets::Cell;

use super::{ListPane, clean, draw_window, empty_hint, health_span, list_title, load_text, pane_block, spinner};
use crate::model::Health;
use crate::tui::state::{Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Contexts;
    let load = state.load(Pane::Contexts);
    let data = &state.data;
    let title = list_title(state, "Contexts", &state.contexts, data.contexts.len(), state.filter_text(Pane::Contexts));
    let block = pane_block(
        state,
        title,
        load_text(load, !data.contexts.is_empty(), spinner(state)),
        focused,
        load.error.is_some(),
    );
    let widths = vec![Constraint::Length(10), Constraint::Fill(2), Constraint::Fill(2), Constraint::Length(5)];
    let pane = ListPane {
        block,
        header: vec!["Health", "External id", "Name", "Conns"],
        widths,
        view: &state.contexts,
        focused,
    };
    draw_window(frame, area, pane, state, |item| {
        let context = &data.contexts[item];
        let owned = data.connections_of_context(&context.external_id).len();
        let health = data.context_health(&context.external_id).unwrap_or(Health::NotInstalled);
        let health_cell =
            if owned == 0 { Cell::from(Health::NotInstalled.symbol()) } else { Cell::from(health_span(state, health)) };
        vec![
            health_cell,
            Cell::from(clean(&context.external_id)),
            Cell::from(clean(context.external_name.as_deref().unwrap_or(""))),
            Cell::from(format!("{owned:>5}")),
        ]
    });
    if state.contexts.is_empty() && !load.loading {
        let text = if data.contexts.is_empty() { "no contexts" } else { "no context matches the filter (esc clears)" };
        empty_hint(frame, area, text, state.theme.muted());
    }
}
