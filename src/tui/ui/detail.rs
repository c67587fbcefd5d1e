use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::widgets::{clean, clock, health_span, pane_block};
use crate::model::Health;
use crate::tui::state::{Pane, State};

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let focused = state.focus == Pane::Detail;
    let block = pane_block(state, vec![Span::styled("Detail", state.theme.title())], String::new(), focused, false);
    let Some(connection) = state.selected_connection() else {
        let hint = Line::styled("no connection selected", state.theme.muted());
        frame.render_widget(Paragraph::new(hint).block(block), area);
        return;
    };
    let theme = &state.theme;
    let field = |name: &'static str, value: Span<'static>| {
        Line::from(vec![Span::styled(format!("{name:<13}"), theme.muted()), value])
    };
    let text = |value: &str| Span::raw(clean(value));
    let health = Health::of(Some(connection));
    let mut lines = vec![
        // A connection has one id, the same in the Platform API and in xkit.js (`getConnection({id})`).
        field("id (any API)", text(&connection.id)),
        field(
            "context",
            match &connection.context {
                Some(context) => match &context.external_name {
                    Some(name) => Span::raw(format!("{} ({})", clean(&context.external_id), clean(name))),
                    None => text(&context.external_id),
                },
                None => Span::raw(""),
            },
        ),
        field(
            "connector",
            Span::raw(format!("{} ({})", clean(&connection.connector.name), clean(&connection.connector.slug))),
        ),
        field("health", health_span(state, health)),
        field("enabled", Span::raw(if connection.enabled { "yes" } else { "no" })),
    ];
    match &connection.authorization {
        None => lines.push(field("authorization", Span::styled("none", theme.error()))),
        Some(authorization) => {
            lines.push(field("status", text(authorization.status.as_str())));
            let optional = [
                ("label", authorization.display_label.as_deref()),
                ("auth id", authorization.id.as_deref()),
                ("error code", authorization.error_code.as_deref()),
            ];
            for (name, value) in optional {
                if let Some(value) = value {
                    lines.push(field(name, text(value)));
                }
            }
            if let Some(message) = &authorization.error_message {
                lines.push(field("error", Span::styled(clean(message), theme.error())));
            }
            if let Some(at) = &authorization.expires_at {
                lines.push(field("expires", Span::raw(format!("{} {}", at.format("%Y-%m-%d"), clock(at)))));
            }
            if let Some(at) = &authorization.last_refreshed_at {
                lines.push(field("refreshed", Span::raw(format!("{} {}", at.format("%Y-%m-%d"), clock(at)))));
            }
            if let Some(error) = &authorization.refresh_error {
                lines.push(field("refresh error", Span::styled(clean(error), theme.error())));
            }
        }
    }
    let repair = match state.catalog_connector_url(&connection.connector.slug) {
        Some(url) => Span::styled(clean(&url), theme.key()),
        None => Span::styled("catalog URL unknown", theme.muted()),
    };
    lines.push(field("repair", repair));
    frame.render_widget(Paragraph::new(lines).block(block).wrap(Wrap { trim: false }), area);
}
