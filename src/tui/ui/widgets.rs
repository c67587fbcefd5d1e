//! The pieces every pane and popup draws with: sanitized text, the spinner and clock, pane
//! blocks with their load state, and the windowed list pane.

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Row, Table, TableState};

use super::layout::table_rows;
use crate::model::Health;
use crate::sanitize;
use crate::tui::columns::{COLUMN_SPACING, Column};
use crate::tui::state::{ListPane, ListView, Pane, PaneLoad, State};

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A remote string made safe for the terminal.
pub fn clean(text: &str) -> String {
    sanitize::for_terminal(text)
}

pub fn spinner(state: &State) -> char {
    SPINNER[state.spinner % SPINNER.len()]
}

pub fn clock(at: &DateTime<Utc>) -> String {
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

pub fn pane_block<'a>(state: &State, title: Vec<Span<'a>>, status: String, focused: bool, failing: bool) -> Block<'a> {
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

/// The common title: `Name 12/340 /filter`, or `Name 300+/340000 /filter` while more rows than
/// those known may exist.
fn list_title<'a>(state: &State, name: Span<'a>, view: &ListView, list: &ListFrame, filter: &str) -> Vec<Span<'a>> {
    let mut spans = vec![name];
    let total = list.total;
    let count = match (view.len(), list.at_least) {
        (_, Some(known)) => format!(" {known}+/{total}"),
        (shown, None) if shown == total => format!(" {total}"),
        (shown, None) => format!(" {shown}/{total}"),
    };
    spans.push(Span::raw(count));
    if !filter.is_empty() {
        spans.push(Span::styled(format!(" /{}", filter), state.theme.key()));
    }
    spans
}

pub fn health_span(state: &State, health: Health) -> Span<'static> {
    Span::styled(format!("{} {}", health.symbol(), health.word()), state.theme.health(health))
}

/// What a list pane shows besides its rows: the name in its title, the count it is filtered
/// from, its columns, whether anything is loaded at all, and the hint shown when it lists
/// nothing.
pub struct ListFrame<'a> {
    pub name: Span<'a>,
    pub total: usize,
    /// Set when not every row is known (a filtered remote-backed list not read to its end):
    /// the rows known to exist, the count shown as `N+`.
    pub at_least: Option<usize>,
    pub columns: Vec<Column>,
    pub has_data: bool,
    pub empty_hint: &'a str,
}

/// Draws a list pane: its block (title, count, filter, load state), then only the visible
/// window of rows (built for `index[offset..offset + rows]`), then the empty hint if it lists
/// nothing once loaded.
pub fn draw_list<'a>(
    frame: &mut Frame,
    area: Rect,
    state: &State,
    pane: Pane,
    list: ListFrame<'a>,
    build: impl Fn(usize) -> Vec<Cell<'a>>,
) {
    let focused = state.focus == pane;
    let ListPane { view, filter, load, sort, .. } = state.list_pane(pane);
    let title = list_title(state, list.name.clone(), view, &list, filter);
    let status = load_text(load, list.has_data, spinner(state));
    let block = pane_block(state, title, status, focused, load.error.is_some());
    let (window, selected) = view.window(table_rows(area));
    let rows: Vec<Row> = window.iter().map(|&item| Row::new(build(item))).collect();
    // The sorted column's header carries the order's arrow, in place of the title's last
    // letter when a fixed-width column has no room for both.
    let header = list.columns.iter().map(|column| match sort {
        Some(sort) if sort.column == column.key => {
            let room = match column.width {
                Constraint::Length(width) => usize::from(width).saturating_sub(1),
                _ => usize::MAX,
            };
            let title: String = column.title.chars().take(room).collect();
            format!("{title}{}", sort.arrow())
        }
        _ => column.title.to_owned(),
    });
    let table = Table::new(rows, list.columns.iter().map(|column| column.width))
        .header(Row::new(header).style(state.theme.column_header()))
        .block(block)
        .column_spacing(COLUMN_SPACING)
        .row_highlight_style(state.theme.selected(focused));
    let mut table_state = TableState::default().with_selected(selected);
    frame.render_stateful_widget(table, area, &mut table_state);
    if view.is_empty() && !load.loading {
        empty_hint(frame, area, list.empty_hint, state.theme.muted());
    }
}

/// A blank-state line inside an empty pane.
fn empty_hint(frame: &mut Frame, area: Rect, text: &str, style: Style) {
    let inner = Rect { x: area.x + 2, y: area.y + 2, width: area.width.saturating_sub(4), height: 1 };
    if inner.width > 0 && area.height > 3 {
        frame.render_widget(Line::styled(text.to_owned(), style), inner);
    }
}

/// The part of a text field that fits `width` columns, scrolled to keep the cursor visible,
/// and the cursor's column within it.
pub fn visible_input(input: &tui_input::Input, width: u16) -> (&str, u16) {
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
