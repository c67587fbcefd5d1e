//! Drawing: pure functions of `&State`, one module per pane, sharing `widgets`. Every remote
//! string passes through [`crate::sanitize`] here, at the last moment, and only for the
//! visible rows.

mod connections;
mod connectors;
mod contexts;
mod detail;
mod events;
mod footer;
mod header;
pub mod layout;
mod popup;
mod widgets;

pub use popup::help_max_scroll;

use ratatui::Frame;

use super::state::State;

pub fn draw(frame: &mut Frame, state: &State) {
    let areas = layout::areas(frame.area());
    header::draw(frame, areas.header, state);
    contexts::draw(frame, areas.contexts, state);
    connectors::draw(frame, areas.connectors, state);
    connections::draw(frame, areas.connections, state);
    detail::draw(frame, areas.detail, state);
    if let crate::tui::state::Mode::Events(view) = &state.mode {
        events::draw(frame, state, view);
    }
    footer::draw(frame, areas.status, areas.hints, state);
    popup::draw(frame, state);
}

#[cfg(test)]
mod tests;
