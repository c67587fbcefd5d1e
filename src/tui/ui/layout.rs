//! Where each pane goes. Shared by drawing and by the reducer (which stores each list pane's
//! height on resize, for page sizes), so both agree.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::tui::state::{Pane, State};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub header: Rect,
    pub contexts: Rect,
    pub connectors: Rect,
    pub connections: Rect,
    pub detail: Rect,
    pub status: Rect,
    pub hints: Rect,
}

impl Areas {
    pub fn of(&self, pane: Pane) -> Rect {
        match pane {
            Pane::Contexts => self.contexts,
            Pane::Connectors => self.connectors,
            Pane::Connections => self.connections,
            Pane::Detail => self.detail,
        }
    }
}

pub fn areas(area: Rect) -> Areas {
    let [header, body, status, hints] =
        Layout::vertical([Constraint::Length(2), Constraint::Min(0), Constraint::Length(1), Constraint::Length(1)])
            .areas(area);
    // Two fifths, but never so narrow that the connectors' count columns squeeze out the names.
    let left_width = (area.width * 2 / 5).max(42.min(area.width / 2));
    let [left, right] = Layout::horizontal([Constraint::Length(left_width), Constraint::Fill(1)]).areas(body);
    let [contexts, connectors] = Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(left);
    let [connections, detail] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(right);
    Areas { header, contexts, connectors, connections, detail, status, hints }
}

/// Data rows a list pane drawn in `area` shows: its height less the borders and the column
/// header.
pub fn table_rows(area: Rect) -> usize {
    usize::from(area.height.saturating_sub(3))
}

/// Data rows visible in a list pane of a terminal of `size`, at least one (a page size).
pub fn list_rows(size: (u16, u16), pane: Pane) -> usize {
    table_rows(areas(Rect::new(0, 0, size.0, size.1)).of(pane)).max(1)
}

/// The 24-hour chart's height in the Events view (borders and four sparklines).
const CHART_HEIGHT: u16 = 6;
/// The shortest terminal that shows the chart: below it the events keep the room.
const CHART_MIN_TERMINAL_HEIGHT: u16 = 20;

/// Where the Events view draws over the panes' body: the chart (when shown) above the events.
pub fn events_areas(area: Rect, chart: bool) -> (Option<Rect>, Rect) {
    let body = areas(area);
    let body = Rect {
        y: body.contexts.y,
        height: body.status.y.saturating_sub(body.contexts.y),
        ..Rect { x: area.x, width: area.width, ..body.contexts }
    };
    if !chart || area.height < CHART_MIN_TERMINAL_HEIGHT {
        return (None, body);
    }
    let [chart, events] = Layout::vertical([Constraint::Length(CHART_HEIGHT), Constraint::Min(0)]).areas(body);
    (Some(chart), events)
}

/// Whether the Events view draws the chart: the server has the history route and the terminal
/// the room.
pub fn shows_chart(state: &State) -> bool {
    !state.live.stats_unsupported && state.size.1 >= CHART_MIN_TERMINAL_HEIGHT
}

/// Event rows visible in the Events view, at least one (a page size).
pub fn events_rows(state: &State) -> usize {
    let (_, events) = events_areas(Rect::new(0, 0, state.size.0, state.size.1), shows_chart(state));
    table_rows(events).max(1)
}
