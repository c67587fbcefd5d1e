//! Drawing: pure functions of `&State`, one module per pane. Every remote string passes
//! through [`crate::sanitize`] here, at the last moment, and only for the visible rows.

mod connections;
mod connectors;
mod contexts;
mod detail;
mod footer;
mod header;
pub mod layout;
mod popup;

pub use popup::help_max_scroll;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::Constraint;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Row, Table, TableState};

use super::state::{ListView, PaneLoad, State};
use crate::model::Health;
use crate::sanitize;

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

pub fn draw(frame: &mut Frame, state: &State) {
    let areas = layout::areas(frame.area());
    header::draw(frame, areas.header, state);
    contexts::draw(frame, areas.contexts, state);
    connectors::draw(frame, areas.connectors, state);
    connections::draw(frame, areas.connections, state);
    detail::draw(frame, areas.detail, state);
    footer::draw(frame, areas.status, areas.hints, state);
    popup::draw(frame, state);
}

/// A remote string made safe for the terminal.
fn clean(text: &str) -> String {
    sanitize::for_terminal(text)
}

fn spinner(state: &State) -> char {
    SPINNER[state.spinner % SPINNER.len()]
}

fn clock(at: &DateTime<Utc>) -> String {
    at.format("%H:%M:%SZ").to_string()
}

/// The load state shown in a pane's title: loading, loaded at, stale since, or the error.
fn load_text(load: &PaneLoad, has_data: bool, spinner: char) -> String {
    match (&load.error, load.loaded_at) {
        _ if load.loading && has_data => format!("{spinner} refreshing"),
        _ if load.loading => format!("{spinner} loading"),
        (Some((since, error)), _) if has_data => format!("stale since {}: {}", clock(since), clean(error)),
        (Some((_, error)), _) => format!("error: {}", clean(error)),
        (None, Some(at)) => format!("loaded {}", clock(&at)),
        (None, None) => String::new(),
    }
}

fn pane_block<'a>(state: &State, title: Vec<Span<'a>>, status: String, focused: bool, failing: bool) -> Block<'a> {
    let theme = &state.theme;
    let mut title = title;
    if !status.is_empty() {
        let style = if failing { theme.error() } else { theme.muted() };
        title.push(Span::raw(" · "));
        title.push(Span::styled(status, style));
    }
    title.insert(0, Span::raw(" "));
    title.push(Span::raw(" "));
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
        .border_style(theme.border(focused))
        .title(Line::from(title))
}

/// The common title: `Name 12/340 /filter`.
fn list_title<'a>(state: &State, name: &'a str, view: &ListView, total: usize, filter: &str) -> Vec<Span<'a>> {
    let mut spans = vec![Span::styled(name, state.theme.title())];
    let count = if view.len() == total { format!(" {total}") } else { format!(" {}/{total}", view.len()) };
    spans.push(Span::raw(count));
    if !filter.is_empty() {
        spans.push(Span::styled(format!(" /{}", filter), state.theme.key()));
    }
    spans
}

fn health_span(state: &State, health: Health) -> Span<'static> {
    Span::styled(format!("{} {}", health.symbol(), health.word()), state.theme.health(health))
}

/// A list pane's frame: its block, columns and view.
struct ListPane<'a, 'v> {
    block: Block<'a>,
    header: Vec<&'a str>,
    widths: Vec<Constraint>,
    view: &'v ListView,
    focused: bool,
}

/// Renders only the visible window of a list: rows are built for `index[offset..offset+rows]`.
fn draw_window<'a>(
    frame: &mut Frame,
    area: ratatui::layout::Rect,
    pane: ListPane<'a, '_>,
    state: &State,
    build: impl Fn(usize) -> Vec<ratatui::widgets::Cell<'a>>,
) {
    let rows_visible = usize::from(area.height.saturating_sub(3));
    let (window, selected) = pane.view.window(rows_visible);
    let rows: Vec<Row> = window.iter().map(|&item| Row::new(build(item))).collect();
    let table = Table::new(rows, pane.widths)
        .header(Row::new(pane.header).style(state.theme.column_header()))
        .block(pane.block)
        .column_spacing(1)
        .row_highlight_style(state.theme.selected(pane.focused));
    let mut table_state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut table_state);
}

/// A blank-state line inside an empty pane.
fn empty_hint(frame: &mut Frame, area: ratatui::layout::Rect, text: &str, style: Style) {
    let inner = ratatui::layout::Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
    if inner.width > 0 && area.height > 3 {
        frame.render_widget(Line::styled(text.to_owned(), style), inner);
    }
}

/// The part of a text field that fits `width` columns, scrolled to keep the cursor visible,
/// and the cursor's column within it.
fn visible_input(input: &tui_input::Input, width: u16) -> (&str, u16) {
    let width = usize::from(width.saturating_sub(1)).max(1);
    let scroll = input.visual_scroll(width);
    let mut skipped = 0;
    let start = input
        .value()
        .char_indices()
        .find(|(_, character)| {
            let done = skipped >= scroll;
            skipped += unicode_width::UnicodeWidthChar::width(*character).unwrap_or(0);
            done
        })
        .map_or(input.value().len(), |(index, _)| index);
    (&input.value()[start..], u16::try_from(input.visual_cursor() - scroll).unwrap_or(u16::MAX))
}

#[cfg(test)]
mod tests;
