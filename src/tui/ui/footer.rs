use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::widgets::visible_input;
use crate::tui::command::{CommandLine, Completion};
use crate::tui::keymap::Command;
use crate::tui::state::{Mode, State};

pub fn draw(frame: &mut Frame, status: Rect, hints: Rect, state: &State) {
    let theme = &state.theme;
    let editing = match &state.mode {
        Mode::Filter(input) => Some(input),
        Mode::Events(view) => view.editing.as_ref(),
        _ => None,
    };
    if let Some(input) = editing {
        let (visible, cursor) = visible_input(input, status.width.saturating_sub(1));
        let line = Line::from(vec![Span::styled("/", theme.key()), Span::raw(visible)]);
        frame.render_widget(Paragraph::new(line), status);
        frame.set_cursor_position(Position::new(status.x + 1 + cursor, status.y));
    } else if let Mode::Command(line) = &state.mode {
        let (visible, cursor) = visible_input(&line.input, status.width.saturating_sub(1));
        let line = Line::from(vec![Span::styled(":", theme.key()), Span::raw(visible)]);
        frame.render_widget(Paragraph::new(line), status);
        frame.set_cursor_position(Position::new(status.x + 1 + cursor, status.y));
    } else if let Some(flash) = &state.flash {
        let style = if flash.error { theme.error() } else { ratatui::style::Style::new() };
        frame.render_widget(Paragraph::new(Line::styled(flash.text.clone(), style)), status);
    }
    if let Mode::Command(CommandLine { completion: Some(completion), .. }) = &state.mode {
        frame.render_widget(Paragraph::new(candidates_line(state, completion)), hints);
        return;
    }
    let keymap = &state.keymap;
    let key = |command| keymap.first_key(command);
    let pairs: Vec<(String, &str)> = match &state.mode {
        Mode::Browse => keymap.hints(),
        Mode::Filter(_) => {
            let mut pairs = bound(vec![(key(Command::FilterApply), "apply"), (key(Command::FilterClear), "clear")]);
            pairs.push(("".into(), "status: connector: context:"));
            pairs
        }
        Mode::Events(view) if view.editing.is_some() => {
            let mut pairs = bound(vec![(key(Command::FilterApply), "apply"), (key(Command::FilterClear), "clear")]);
            pairs.push(("".into(), "type: connector: context: connection:"));
            pairs
        }
        Mode::Events(_) => bound(vec![
            (key(Command::EventsDown), "down"),
            (key(Command::EventsFilter), "filter"),
            (key(Command::EventsJump), "go to the connection"),
            (key(Command::EventsClose), "back"),
        ]),
        Mode::Command(_) => bound(vec![
            (key(Command::CommandComplete), "complete"),
            (key(Command::CommandRun), "run"),
            (key(Command::CommandCancel), "cancel"),
            (key(Command::CommandHistoryPrev), "history"),
        ]),
        Mode::Help { .. } => {
            let scroll = [key(Command::HelpScrollDown), key(Command::HelpScrollUp)];
            let scroll: Vec<String> = scroll.into_iter().filter(|key| !key.is_empty()).collect();
            bound(vec![(scroll.join("/"), "scroll"), (key(Command::HelpClose), "close")])
        }
        Mode::Mint(_) => bound(vec![
            (key(Command::MintNextField), "next field"),
            (key(Command::MintSubmit), "mint"),
            (key(Command::MintCancel), "cancel"),
        ]),
        Mode::Profiles { .. } => bound(vec![
            (key(Command::ProfilesDown), "down"),
            (key(Command::ProfilesChoose), "open"),
            (key(Command::ProfilesClose), "close"),
        ]),
        Mode::Confirm(_) => bound(vec![(key(Command::ConfirmYes), "run"), (key(Command::ConfirmNo), "cancel")]),
        Mode::Minted(_) | Mode::Url { .. } => {
            let copy = if matches!(state.mode, Mode::Url { .. }) { "copy again" } else { "copy" };
            bound(vec![
                (key(Command::PopupReveal), "reveal/hide"),
                (key(Command::PopupCopy), copy),
                (key(Command::PopupClose), "close"),
            ])
        }
    };
    let mut spans = Vec::new();
    for (key, label) in pairs {
        if !key.is_empty() {
            spans.push(Span::styled(key, theme.key()));
            spans.push(Span::raw(" "));
        }
        spans.push(Span::styled(label, theme.muted()));
        spans.push(Span::raw("  "));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), hints);
}

/// The hints whose command has a key (a user may unbind some).
fn bound(pairs: Vec<(String, &'static str)>) -> Vec<(String, &'static str)> {
    pairs.into_iter().filter(|(key, _)| !key.is_empty()).collect()
}

/// Tab's candidates in the hint bar, the one in the line highlighted; ids and slugs are remote
/// strings, sanitized.
fn candidates_line(state: &State, completion: &Completion) -> Line<'static> {
    let theme = &state.theme;
    if completion.candidates.is_empty() {
        return Line::styled("no completion", theme.muted());
    }
    let mut spans = Vec::new();
    for (index, candidate) in completion.candidates.iter().enumerate() {
        let style = if index == completion.chosen { theme.selected(true) } else { theme.muted() };
        spans.push(Span::styled(crate::sanitize::for_terminal(candidate), style));
        spans.push(Span::raw("  "));
    }
    Line::from(spans)
}
