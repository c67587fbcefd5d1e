//! The Events view: the 24-hour chart of errors and recoveries (the platform's, and the
//! selected connector's) above a live timeline of events, newest first, each colour-coded by
//! type. Every remote string is sanitized.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Sparkline, Table, TableState};

use super::layout::{events_areas, shows_chart, table_rows};
use super::widgets::{clean, pane_block};
use crate::model::{Event, Health, StatsCounts, StatsHistory};
use crate::tui::columns::COLUMN_SPACING;
use crate::tui::live::message;
use crate::tui::state::{EventsView, State};

/// The width of a chart line's label.
const LABEL: u16 = 28;

pub fn draw(frame: &mut Frame, state: &State, view: &EventsView) {
    let (chart, events) = events_areas(frame.area(), shows_chart(state));
    if let Some(area) = chart {
        frame.render_widget(Clear, area);
        draw_chart(frame, area, state);
    }
    frame.render_widget(Clear, events);
    draw_events(frame, events, state, view);
}

fn draw_events(frame: &mut Frame, area: Rect, state: &State, view: &EventsView) {
    let theme = &state.theme;
    let events = &state.live.events;
    let mut title = vec![Span::styled("Events", theme.title())];
    let shown = view.view.len();
    title.push(Span::raw(if shown == events.len() {
        format!(" {shown}")
    } else {
        format!(" {shown}/{}", events.len())
    }));
    if !view.filter.is_empty() {
        title.push(Span::styled(format!(" /{}", view.filter), theme.key()));
    }
    let status = "newest first".to_owned();
    let block = pane_block(state, title, status, true, false);
    let (window, selected) = view.view.window(table_rows(area));
    let rows: Vec<Row> =
        window.iter().filter_map(|&position| events.get(position)).map(|event| row(state, event)).collect();
    let widths = [
        Constraint::Length(8),
        Constraint::Length(15),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Fill(2),
        Constraint::Fill(4),
    ];
    let header = ["Time", "Type", "Context", "Connector", "Connection", "Message"];
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.column_header()))
        .block(block)
        .column_spacing(COLUMN_SPACING)
        .row_highlight_style(theme.selected(true));
    let mut table_state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut table_state);
    if view.view.is_empty() && area.height > 3 {
        let hint = if events.is_empty() { "no events yet" } else { "no event matches the filter (esc clears)" };
        let inner = Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
        frame.render_widget(Line::styled(hint, theme.muted()), inner);
    }
}

fn row<'a>(state: &State, event: &'a Event) -> Row<'a> {
    let time = chrono::DateTime::parse_from_rfc3339(&event.occurred_at)
        .map(|at| state.local_clock(at.to_utc()))
        .unwrap_or_else(|_| clean(&event.occurred_at));
    let kind = event.event_type.strip_prefix("connection.").unwrap_or(&event.event_type);
    let text = |value: Option<&str>| Cell::from(clean(value.unwrap_or("")));
    Row::new(vec![
        Cell::from(time),
        Cell::from(Span::styled(clean(kind), type_style(state, &event.event_type))),
        text(event.context.as_deref()),
        text(event.connector.as_deref()),
        text(event.connection.as_deref()),
        text(message(event).as_deref()),
    ])
}

/// Errors red, recoveries green, transient failures yellow, removals grey.
fn type_style(state: &State, event_type: &str) -> Style {
    let health = match event_type {
        "connection.error" => Health::Error,
        "connection.recovered" | "connection.repaired" | "connection.enabled" => Health::Active,
        "connection.refresh_failed" => Health::Pending,
        "connection.disabled" | "connection.deleted" | "key.revoked" | "origin.removed" => Health::Disabled,
        _ => return Style::new(),
    };
    state.theme.health(health)
}

fn draw_chart(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let title = vec![Span::styled("Last 24 hours", theme.title()), Span::raw(" · per hour")];
    let block = pane_block(state, title, String::new(), false, false);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(stats) = &state.live.stats else {
        let text = if state.live.stats_loading { "loading the history…" } else { "no history yet" };
        frame.render_widget(Paragraph::new(Line::styled(text, theme.muted())), inner);
        return;
    };
    let platform: Vec<StatsCounts> = stats.buckets.iter().map(|bucket| bucket.totals).collect();
    let mut lines = vec![
        ("errors, all connectors".to_owned(), series(&platform, |c| c.errors), Health::Error),
        ("recoveries, all connectors".to_owned(), series(&platform, |c| c.recoveries), Health::Active),
    ];
    if let Some(connector) = state.selected_connector() {
        let counts = connector_series(stats, &connector.slug);
        let name = clean(&connector.slug);
        lines.push((format!("errors, {name}"), series(&counts, |c| c.errors), Health::Error));
        lines.push((format!("recoveries, {name}"), series(&counts, |c| c.recoveries), Health::Active));
    }
    let rows = Layout::vertical(lines.iter().map(|_| Constraint::Length(1))).split(inner);
    for ((label, values, health), row) in lines.iter().zip(rows.iter()) {
        let width = u16::try_from(values.len()).unwrap_or(u16::MAX);
        let [name, bars, total] =
            Layout::horizontal([Constraint::Length(LABEL), Constraint::Length(width), Constraint::Min(0)]).areas(*row);
        let label: String = label.chars().take(usize::from(LABEL) - 1).collect();
        frame.render_widget(Line::styled(label, theme.muted()), name);
        frame.render_widget(Sparkline::default().data(values).style(theme.health(*health)), bars);
        let sum: u64 = values.iter().sum();
        frame.render_widget(Line::raw(format!(" {sum}")), total);
    }
}

fn series(counts: &[StatsCounts], pick: impl Fn(&StatsCounts) -> u64) -> Vec<u64> {
    counts.iter().map(pick).collect()
}

/// One connector's counts per bucket (zero where it had none).
fn connector_series(stats: &StatsHistory, slug: &str) -> Vec<StatsCounts> {
    stats
        .buckets
        .iter()
        .map(|bucket| {
            bucket.connectors.iter().find(|entry| entry.connector == slug).map(|entry| entry.counts).unwrap_or_default()
        })
        .collect()
}
