use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::widgets::{clean, clock, spinner};
use crate::model::Health;
use crate::tui::live::FollowMode;
use crate::tui::state::State;

/// Health totals, in the order an operator reads them.
const TOTALS: [Health; 5] = [Health::Active, Health::Pending, Health::Error, Health::Disabled, Health::Unknown];

pub fn draw(frame: &mut Frame, area: Rect, state: &State) {
    let theme = &state.theme;
    let mut first =
        vec![Span::styled("xkit-dash", theme.title()), Span::raw(" │ "), Span::raw(clean(&state.target.label))];
    if state.target.read_only {
        first.push(Span::raw(" "));
        first.push(Span::styled(" READ-ONLY ", theme.badge()));
    }
    first.push(Span::raw(" │ "));
    match &state.scan {
        // Remote-backed, the scan only lists the connectors: the counts are the server's.
        Some(_) if state.remote.is_some() => first.push(Span::raw(format!("{} loading connectors", spinner(state)))),
        Some(scan) => first.push(Span::raw(format!(
            "{} scanning: {} contexts, {} connections",
            spinner(state),
            scan.contexts_seen,
            scan.connections_seen
        ))),
        None => {
            let loads = state.list_panes().map(|pane| &pane.load);
            let newest = loads.iter().filter_map(|load| load.loaded_at).max();
            let failing = loads.iter().filter_map(|load| load.error.as_ref()).map(|(since, _)| since).min();
            match (failing, newest) {
                (Some(since), _) => first.push(Span::styled(format!("failing since {}", clock(since)), theme.error())),
                (None, Some(at)) => first.push(Span::styled(format!("loaded {}", clock(&at)), theme.muted())),
                (None, None) => first.push(Span::styled("starting", theme.muted())),
            }
        }
    }
    if let Some(mode) = follow_mode(state) {
        first.push(Span::raw(" │ "));
        first.push(mode);
    }
    let data = &state.data;
    let totals = state.totals();
    let mut second = Vec::new();
    for health in TOTALS {
        let count = totals.get(health);
        let style = if count == 0 { theme.muted() } else { theme.health(health) };
        second.push(Span::styled(format!("{} {count} {}", health.symbol(), health.word()), style));
        second.push(Span::raw("  "));
    }
    let (contexts, connections) = match &state.remote {
        // Counted by the server: only a window of them is loaded.
        Some(remote) => (remote.stats.contexts as usize, remote.stats.connections as usize),
        None => (data.contexts.len(), data.connections.len()),
    };
    second.push(Span::styled(
        format!("│ {contexts} contexts · {} connectors · {connections} connections", data.connectors.len()),
        theme.muted(),
    ));
    if state.fallback {
        second.push(Span::styled(" · per-context fetch", theme.muted()));
    }
    frame.render_widget(Paragraph::new(vec![Line::from(first), Line::from(second)]), area);
}

/// How the screen stays current: following events ("live"), or rescanning every so often.
fn follow_mode(state: &State) -> Option<Span<'static>> {
    let theme = &state.theme;
    let every = humantime::format_duration(state.settings.refresh);
    Some(match &state.live.mode {
        FollowMode::Starting => return None,
        FollowMode::Live => Span::styled("● live", theme.health(Health::Active)),
        FollowMode::Polling => Span::styled(format!("polling every {every}"), theme.muted()),
        FollowMode::Retrying { since, retry_at, .. } => Span::styled(
            format!("polling every {every} · events failing since {}, next try {}", clock(since), clock(retry_at)),
            theme.error(),
        ),
    })
}
