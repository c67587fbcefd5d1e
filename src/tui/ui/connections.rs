use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::{ListPane, clean, draw_window, empty_hint, health_span, list_title, load_text, pane_block, spinner};
use crate::model::Health;
use crate::tui::state::{Pane, Scope, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let focused = matches!(state.focus, Pane::Connections);
    let load = state.load(Pane::Connections);
    let data = &state.data;
    let (name, total) = match &state.scope {
        Scope::Nothing => ("Connections".to_owned(), 0),
        Scope::Context(id) => (format!("Connections of {}", clean(id)), data.connections_of_context(id).len()),
        Scope::Connector(slug) => {
            (format!("Connections to {}", clean(slug)), data.connections_of_connector(slug).len())
        }
        Scope::Triage => ("TRIAGE: needs attention".to_owned(), data.needing_attention().len()),
    };
    let mut title = list_title(state, "", &state.connections, total, state.filter_text(Pane::Connections));
    title[0] =
        if state.triage { Span::styled(name, state.theme.badge()) } else { Span::styled(name, state.theme.title()) };
    let status = load_text(load, !data.connections.is_empty(), spinner(state));
    let block = pane_block(state, title, status, focused, load.error.is_some());
    let show_context = !matches!(state.scope, Scope::Context(_));
    let mut header = vec!["Health", "Connector"];
    let mut widths = vec![Constraint::Length(13), Constraint::Fill(2)];
    if show_context {
        header.push("Context");
        widths.push(Constraint::Fill(2));
    }
    header.extend(["Label", "Id"]);
    widths.extend([Constraint::Fill(2), Constraint::Fill(2)]);
    let pane = ListPane { block, header, widths, view: &state.connections, focused };
    draw_window(frame, area, pane, state, |item| {
        let connection = &data.connections[item];
        let mut cells = vec![
            Cell::from(health_span(state, Health::of(Some(connection)))),
            Cell::from(clean(&connection.connector.name)),
        ];
        if show_context {
            let context = connection.context.as_ref().map(|context| context.external_id.as_str()).unwrap_or("");
            cells.push(Cell::from(clean(context)));
        }
        let label = connection.authorization.as_ref().and_then(|authorization| authorization.display_label.as_deref());
        cells.push(Cell::from(clean(label.unwrap_or(""))));
        cells.push(Cell::from(clean(&connection.id)));
        cells
    });
    if state.connections.is_empty() && !load.loading {
        let text = match &state.scope {
            Scope::Nothing => "select a context or a connector",
            Scope::Triage if state.filter_text(Pane::Connections).is_empty() => "nothing needs attention",
            _ if !state.filter_text(Pane::Connections).is_empty() => "no connection matches the filter (esc clears)",
            _ => "no connections",
        };
        empty_hint(frame, area, text, state.theme.muted());
    }
}
