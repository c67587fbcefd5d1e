use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::{ListPane, clean, draw_window, empty_hint, list_title, load_text, pane_block, spinner};
use crate::model::Health;
use crate::tui::state::{Pane, State};

/// The healths counted per connector, in column order.
const COUNTED: [Health; 5] = [Health::Active, Health::Pending, Health::Error, Health::Disabled, Health::Unknown];

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Connectors;
    let load = state.load(Pane::Connectors);
    let data = &state.data;
    let title =
        list_title(state, "Connectors", &state.connectors, data.connectors.len(), state.filter_text(Pane::Connectors));
    let block = pane_block(
        state,
        title,
        load_text(load, !data.connectors.is_empty(), spinner(state)),
        focused,
        load.error.is_some(),
    );
    let mut widths = vec![Constraint::Min(8)];
    widths.extend(COUNTED.map(|_| Constraint::Length(4)));
    let mut header = vec!["Connector"];
    header.extend(COUNTED.map(Health::symbol));
    let pane = ListPane { block, header, widths, view: &state.connectors, focused };
    draw_window(frame, area, pane, state, |item| {
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
    if state.connectors.is_empty() && !load.loading {
        let text = if data.connectors.is_empty() { "no connectors" } else { "no connector matches the filter" };
        empty_hint(frame, area, text, state.theme.muted());
    }
}
