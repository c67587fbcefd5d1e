//! Modal popups: help, the mint form, the minted token, and a URL no browser could open.

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::widgets::{clean, clock, spinner, visible_input};
use crate::tui::command::COMMANDS;
use crate::tui::keymap::{Command, KeyMode};
use crate::tui::mint::{FIELD_HINTS, FIELD_LABELS, MintForm, MintedToken};
use crate::tui::state::{Mode, PendingPlugin, State, masked_url};

pub fn draw(frame: &mut Frame, state: &State) {
    match &state.mode {
        Mode::Help { scroll } => help(frame, state, *scroll),
        Mode::Mint(form) => mint(frame, state, form),
        Mode::Minted(minted) => token(frame, state, minted),
        Mode::Url { url, reason, revealed } => {
            let shown = if *revealed { url.clone() } else { masked_url(url) };
            url_popup(frame, state, &shown, reason)
        }
        Mode::Profiles { selected } => profiles(frame, state, *selected),
        Mode::Confirm(pending) => confirm(frame, state, pending),
        Mode::Browse | Mode::Filter(_) | Mode::Command(_) | Mode::Events(_) => {}
    }
}

fn centered(frame: &Frame, width: u16, height: u16) -> Rect {
    let area = frame.area();
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))]).flex(Flex::Center).areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(width.min(area.width))]).flex(Flex::Center).areas(row);
    rect
}

fn popup_block<'a>(state: &State, title: &'a str) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(state.theme.border(true))
        .title(Line::from(vec![Span::raw(" "), Span::styled(title, state.theme.title()), Span::raw(" ")]))
}

/// How far the keys popup can scroll at the current terminal size (0 when it fits).
pub fn help_max_scroll(state: &State) -> u16 {
    let content = u16::try_from(help_lines(state).len()).unwrap_or(u16::MAX);
    content.saturating_sub(state.size.1.saturating_sub(2))
}

fn help(frame: &mut Frame, state: &State, scroll: u16) {
    let lines = help_lines(state);
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let area = centered(frame, 76, height);
    let scroll = scroll.min(help_max_scroll(state));
    let keys = &state.keymap;
    let title = if help_max_scroll(state) > 0 {
        format!(
            "Keys ({}/{} scroll) · rebind them in config.toml [keys]",
            keys.first_key(Command::HelpScrollDown),
            keys.first_key(Command::HelpScrollUp)
        )
    } else {
        "Keys · rebind them in config.toml [keys]".to_owned()
    };
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)).block(popup_block(state, &title)), area);
}

/// What the help says before a mode's keys: where they apply (browsing keys come first and
/// need no heading; the filter's heading is its syntax).
fn mode_heading(mode: KeyMode) -> Vec<String> {
    match mode {
        KeyMode::Browse => Vec::new(),
        KeyMode::Filter => vec![
            "filter (typing edits it): words match ids, names, connector and status;".to_owned(),
            "  status:error connector:slack context:acme restrict a field".to_owned(),
        ],
        KeyMode::Command
        | KeyMode::Help
        | KeyMode::Mint
        | KeyMode::Popup
        | KeyMode::Profiles
        | KeyMode::Confirm
        | KeyMode::Events => {
            vec![format!("in {}:", mode.title())]
        }
    }
}

/// Every live binding, mode by mode, from the keymap.
fn help_lines(state: &State) -> Vec<Line<'static>> {
    let theme = &state.theme;
    let mut lines = Vec::new();
    // First, so that it shows even when the help must scroll.
    if state.target.read_only {
        lines.push(Line::styled("read-only: mutating keys are not bound", theme.error()));
    }
    for mode in KeyMode::ALL {
        let bindings = state.keymap.help_lines(mode);
        if bindings.is_empty() {
            continue;
        }
        lines.extend(mode_heading(mode).into_iter().map(|heading| Line::styled(heading, theme.muted())));
        for (keys, description) in bindings {
            lines.push(Line::from(vec![Span::styled(format!("{keys:<16}"), theme.key()), Span::raw(description)]));
        }
        if mode == KeyMode::Command {
            lines.push(Line::styled("commands (tab completes names, ids, slugs, profiles, columns):", theme.muted()));
            for command in COMMANDS {
                let usage = format!(":{} {}", command.name, command.args);
                lines.push(Line::from(vec![
                    Span::styled(format!("{usage:<26}"), theme.key()),
                    Span::raw(command.description),
                ]));
            }
        }
    }
    if !state.plugins.all().is_empty() {
        lines.push(Line::styled("plugins (config.toml [[plugins]]), on the focused pane's selection:", theme.muted()));
        for plugin in state.plugins.all() {
            let how = match (plugin.foreground, plugin.confirm) {
                (true, true) => "terminal, asks first",
                (true, false) => "terminal",
                (false, true) => "background, asks first",
                (false, false) => "background",
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{:<16}", plugin.key.to_string()), theme.key()),
                Span::raw(format!("{} · {} · {how}", clean(&plugin.name), plugin.scope_names())),
            ]));
        }
    }
    lines
}

fn profiles(frame: &mut Frame, state: &State, selected: usize) {
    let theme = &state.theme;
    let mut lines: Vec<Line> = state
        .profiles
        .iter()
        .enumerate()
        .map(|(index, name)| {
            // The marker shows the choice without colour or reverse video too.
            let (marker, style) =
                if index == selected { ("▸", theme.selected(true)) } else { (" ", ratatui::style::Style::new()) };
            Line::styled(format!("{marker} {} ", clean(name)), style)
        })
        .collect();
    lines.push(Line::raw(""));
    let keys = &state.keymap;
    lines.push(Line::styled(
        format!(
            "{} opens it (closes the current target) · {} cancels",
            keys.first_key(Command::ProfilesChoose),
            keys.first_key(Command::ProfilesClose)
        ),
        theme.muted(),
    ));
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let area = centered(frame, 64, height);
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(popup_block(state, "Profiles")), area);
}

fn confirm(frame: &mut Frame, state: &State, pending: &PendingPlugin) {
    let theme = &state.theme;
    let keys = &state.keymap;
    let command: Vec<String> = pending.argv.iter().map(|argument| format!("{argument:?}")).collect();
    let lines = vec![
        Line::raw(format!("Run plugin {}?", clean(&pending.name))),
        Line::raw(""),
        Line::styled(clean(&command.join(" ")), theme.key()),
        Line::raw(""),
        Line::styled(
            format!(
                "{} runs it · {} does not",
                keys.first_key(Command::ConfirmYes),
                keys.first_key(Command::ConfirmNo)
            ),
            theme.muted(),
        ),
    ];
    let area = centered(frame, 76, 9);
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(popup_block(state, "Plugin")), area);
}

fn mint(frame: &mut Frame, state: &State, form: &MintForm) {
    let theme = &state.theme;
    let area = centered(frame, 64, 14);
    frame.render_widget(Clear, area);
    let block = popup_block(state, "Mint a context token");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let errors = form.field_errors();
    let rows = Layout::vertical([Constraint::Length(3); 3].into_iter().chain([Constraint::Min(1)])).split(inner);
    for (index, input) in form.fields.iter().enumerate() {
        let row = rows[index];
        let focused = index == form.focus;
        let label_style = if focused { theme.key() } else { theme.title() };
        let label = Line::from(vec![
            Span::styled(FIELD_LABELS[index], label_style),
            Span::styled(format!("  {}", FIELD_HINTS[index]), theme.muted()),
        ]);
        frame.render_widget(label, Rect { height: 1, ..row });
        let field_area = Rect { y: row.y + 1, height: 1, x: row.x + 2, width: row.width.saturating_sub(2) };
        let (visible, cursor) = visible_input(input, field_area.width);
        frame.render_widget(Line::raw(visible.to_owned()), field_area);
        if focused && !form.submitting {
            frame.set_cursor_position(Position::new(field_area.x + cursor.min(field_area.width), field_area.y));
        }
        if let Some(error) = &errors[index] {
            let error_area = Rect { y: row.y + 2, height: 1, ..field_area };
            frame.render_widget(Line::styled(format!("✗ {error}"), theme.error()), error_area);
        }
    }
    let footer = if form.submitting {
        Line::raw(format!("{} minting…", spinner(state)))
    } else if let Some(error) = &form.server_error {
        Line::styled(format!("✗ server: {}", clean(error)), theme.error())
    } else {
        let keys = &state.keymap;
        Line::styled(
            format!(
                "{} mints · {} moves · {} cancels",
                keys.first_key(Command::MintSubmit),
                keys.first_key(Command::MintNextField),
                keys.first_key(Command::MintCancel)
            ),
            theme.muted(),
        )
    };
    frame.render_widget(Paragraph::new(footer).wrap(Wrap { trim: true }), rows[3]);
}

fn token(frame: &mut Frame, state: &State, minted: &MintedToken) {
    let theme = &state.theme;
    let mut lines = vec![
        Line::from(vec![Span::styled("context  ", theme.muted()), Span::raw(clean(&minted.external_id))]),
        Line::from(vec![Span::styled("token    ", theme.muted()), Span::raw(clean(&minted.display()))]),
    ];
    let expiry = match &minted.expires_at {
        Some(at) => format!("{} {}", at.format("%Y-%m-%d"), clock(at)),
        None => "not stated (not a JWT)".to_owned(),
    };
    lines.push(Line::from(vec![Span::styled("expires  ", theme.muted()), Span::raw(expiry)]));
    lines.push(Line::raw(""));
    let [reveal, copy, close] = popup_keys(state);
    let reveals = if minted.revealed { "hides" } else { "reveals" };
    lines.push(Line::styled(format!("{reveal} {reveals} · {copy} copies (OSC 52) · {close} closes"), theme.muted()));
    let area = centered(frame, 72, 8);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(popup_block(state, "Context token")),
        area,
    );
}

fn url_popup(frame: &mut Frame, state: &State, url: &str, reason: &str) {
    let theme = &state.theme;
    let [reveal, copy, close] = popup_keys(state);
    let lines = vec![
        Line::styled(format!("No browser could open it: {}", clean(reason)), theme.error()),
        Line::raw(""),
        Line::styled(clean(url), theme.key()),
        Line::raw(""),
        Line::styled(
            format!("copied to the clipboard with OSC 52 · {reveal} reveals · {copy} copies again · {close} closes"),
            theme.muted(),
        ),
    ];
    let area = centered(frame, 76, 9);
    frame.render_widget(Clear, area);
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }).block(popup_block(state, "Repair URL")), area);
}

/// The first keys of reveal, copy and close, as the token and URL popups mention them.
fn popup_keys(state: &State) -> [String; 3] {
    [Command::PopupReveal, Command::PopupCopy, Command::PopupClose].map(|command| state.keymap.first_key(command))
}
