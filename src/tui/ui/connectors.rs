use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::widgets::{ListFrame, clean, draw_list};
use crate::tui::columns::COUNTED;
use crate::tui::state::{Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let data = &state.data;
    let list = ListFrame {
        name: Span::styled("Connectors", state.theme.title()),
        total: data.connectors.len(),
        at_least: None,
        columns: state.columns(Pane::Connectors),
        has_data: !data.connectors.is_empty(),
        empty_hint: if data.connectors.is_empty() { "no connectors" } else { "no connector matches the filter" },
    };
    draw_list(frame, area, state, Pane::Connectors, list, |item| {
        let connector = &data.connectors[item];
        let counts = data.connector_counts(&connector.slug);
        let mut cells = vec![Cell::from(clean(&connector.name))];
        cells.extend(COUNTED.map(|health| {
            let count = counts.get(health);
            let style = if count == 0 { state.theme.muted() } else { state.theme.health(health) };
            Cell::from(Span::styled(format!("{count:>3}"), style))
        }));
        cells
    });
}
