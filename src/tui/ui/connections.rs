use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::contexts::PLACEHOLDER;
use super::widgets::{ListFrame, clean, draw_list, health_span};
use crate::humanize::age;
use crate::model::{Connection, Health};
use crate::tui::paged::Row;
use crate::tui::state::{Pane, Scope, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let data = &state.data;
    let (name, total) = match &state.scope {
        Scope::Nothing => ("Connections".to_owned(), 0),
        Scope::Context(id) => (format!("Connections of {}", clean(id)), data.connections_of_context(id).len()),
        Scope::Connector(slug) => {
            (format!("Connections to {}", clean(slug)), data.connections_of_connector(slug).len())
        }
        Scope::Triage => ("TRIAGE: needs attention".to_owned(), data.needing_attention().len()),
    };
    // Remote-backed, the scopes across contexts page through the server's listing.
    let paged = state.remote.as_ref().filter(|_| matches!(state.scope, Scope::Triage | Scope::Connector(_)));
    let total = paged.map_or(total, |remote| remote.listing.len());
    let paged_rows = paged.map(|remote| &remote.listing);
    let name =
        if state.triage { Span::styled(name, state.theme.badge()) } else { Span::styled(name, state.theme.title()) };
    let show_context = state.shows_context();
    let filtered = !state.filter_text(Pane::Connections).is_empty();
    let empty_hint = match &state.scope {
        Scope::Nothing => "select a context or a connector",
        Scope::Triage if !filtered => "nothing needs attention",
        _ if filtered => "no connection matches the filter (esc clears)",
        _ => "no connections",
    };
    let columns = state.columns(Pane::Connections);
    let now = state.now();
    let has_data = paged_rows.is_some() || !data.connections.is_empty();
    // The listing's count is always the server's: never more than the view.
    let list = ListFrame { name, total, at_least: None, columns, has_data, empty_hint };
    draw_list(frame, area, state, Pane::Connections, list, |item| {
        let connection = match paged_rows.map(|rows| rows.row(item)) {
            None => &data.connections[item],
            Some(Row::Loaded(connection)) => connection,
            Some(Row::Loading) => {
                return vec![
                    Cell::from(Span::styled("…", state.theme.muted())),
                    Cell::from(""),
                    Cell::from(Span::styled(PLACEHOLDER, state.theme.muted())),
                ];
            }
        };
        let mut cells = vec![
            Cell::from(health_span(state, Health::of(Some(connection)))),
            Cell::from(Span::styled(since(connection, now), state.theme.muted())),
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
}

/// How long the connection has been in its state, when the server says (an extension).
fn since(connection: &Connection, now: chrono::DateTime<chrono::Utc>) -> String {
    let changed = connection.authorization.as_ref().and_then(|authorization| authorization.status_changed_at);
    changed.map(|at| age(at, now)).unwrap_or_default()
}
