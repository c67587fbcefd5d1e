use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Cell;

use super::widgets::{ListFrame, clean, draw_list, health_span};
use crate::model::Health;
use crate::tui::paged::Row;
use crate::tui::remote::Remote;
use crate::tui::state::{Pane, State};

/// What a row shows while its page is read.
pub const PLACEHOLDER: &str = "loading…";

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    if let Some(remote) = &state.remote {
        return draw_remote(frame, area, state, remote);
    }
    let data = &state.data;
    let list = ListFrame {
        name: Span::styled("Contexts", state.theme.title()),
        total: data.contexts.len(),
        at_least: None,
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

/// The virtual list: the rows the server sent for the window, a placeholder for a row whose
/// page is on its way. Health and count come with each context (the server keeps them).
fn draw_remote(frame: &mut Frame, area: Rect, state: &State, remote: &Remote) {
    // A filtered list is not counted by the totals: until it is read to its end, more rows
    // than those known may match, and an empty one may just not have its first page yet.
    let counted = remote.contexts.is_counted();
    let list = ListFrame {
        name: Span::styled("Contexts", state.theme.title()),
        total: remote.stats.contexts as usize,
        at_least: (!counted).then(|| remote.contexts.at_least()),
        columns: state.columns(Pane::Contexts),
        has_data: true,
        empty_hint: match (counted, state.contexts.filter.is_empty()) {
            (false, _) => PLACEHOLDER,
            (true, true) => "no contexts",
            (true, false) => "no context matches the filter (esc clears)",
        },
    };
    draw_list(frame, area, state, Pane::Contexts, list, |item| match remote.contexts.row(item) {
        Row::Loaded(context) => {
            let health = match (context.connection_count, context.health) {
                (Some(0), _) | (_, None) => Cell::from(Health::NotInstalled.symbol()),
                (_, Some(health)) => Cell::from(health_span(state, health)),
            };
            vec![
                health,
                Cell::from(clean(&context.external_id)),
                Cell::from(clean(context.external_name.as_deref().unwrap_or(""))),
                Cell::from(format!("{:>5}", context.connection_count.unwrap_or(0))),
            ]
        }
        Row::Loading => vec![
            Cell::from(Span::styled("…", state.theme.muted())),
            Cell::from(Span::styled(PLACEHOLDER, state.theme.muted())),
        ],
    });
}
