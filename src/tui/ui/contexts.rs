use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::widgets::{ListFrame, clean, draw_list, health_span};
use crate::model::Health;
use crate::tui::state::{Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let data = &state.data;
    let list = ListFrame {
        name: Span::styled("Contexts", state.theme.title()),
        total: data.contexts.len(),
        columns: state.columns(Pane::Contexts),
        has_data: !data.contexts.is_empty(),
        empty_hint: if data.contexts.is_empty() { "no contexts" } else { "no context matches the filter (esc clears)" },
    };
    draw_list(frame, area, state, Pane::Contexts, list, |item| {
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
}
