use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::tui::state::{Mode, State};

pub fn draw(frame: &mut Frame, status: Rect, hints: Rect, state: &State) {
    let theme = &state.theme;
    match &state.mode {
        Mode::Filter(input) => {
            let (visible, cursor) = super::visible_input(input, status.width.saturating_sub(1));
            let line = Line::from(vec![Span::styled("/", theme.key()), Span::raw(visible)]);
            frame.render_widget(Paragraph::new(line), status);
            frame.set_cursor_position(Position::new(status.x + 1 + cursor, status.y));
        }
        _ => {
            if let Some(flash) = &state.flash {
                let style = if flash.error { theme.error() } else { ratatui::style::Style::new() };
                frame.render_widget(Paragraph::new(Line::styled(flash.text.clone(), style)), status);
            }
        }
    }
    let pairs: Vec<(String, &str)> = match &state.mode {
        Mode::Browse => state.keymap.hints().into_iter().collect(),
        Mode::Filter(_) => {
            vec![("enter".into(), "apply"), ("esc".into(), "clear"), ("".into(), "status: connector: context:")]
        }
        Mode::Help { .. } => vec![("j/k".into(), "scroll"), ("esc".into(), "close")],
        Mode::Mint(_) => vec![("tab".into(), "next field"), ("enter".into(), "mint"), ("esc".into(), "cancel")],
        Mode::Minted(_) => vec![("v".into(), "reveal/hide"), ("y".into(), "copy"), ("esc".into(), "close")],
        Mode::Url { .. } => vec![("v".into(), "reveal/hide"), ("y".into(), "copy again"), ("esc".into(), "close")],
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
