//! Colours and emphasis. The only place that maps a [`Health`] to a colour.
//!
//! With `NO_COLOR` set (https://no-color.org) no colour is emitted at all; symbols and words
//! carry the meaning everywhere, so nothing depends on colour alone.

use ratatui::style::{Color, Modifier, Style};

use crate::model::Health;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Default for Theme {
    fn default() -> Self {
        Self { color: true }
    }
}

impl Theme {
    /// Honours `NO_COLOR` when it is present and not empty.
    pub fn from_env() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self { color: !no_color }
    }

    fn fg(&self, color: Color) -> Style {
        if self.color { Style::new().fg(color) } else { Style::new() }
    }

    pub fn health(&self, health: Health) -> Style {
        match health {
            Health::Active => self.fg(Color::Green),
            Health::Pending => self.fg(Color::Yellow),
            Health::Error => self.fg(Color::Red).add_modifier(Modifier::BOLD),
            Health::Disabled => self.fg(Color::DarkGray),
            Health::Unknown => self.fg(Color::Magenta),
            Health::NotInstalled => Style::new(),
        }
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused { self.fg(Color::Cyan).add_modifier(Modifier::BOLD) } else { Style::new() }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    /// The selected row: reversed video works with and without colour.
    pub fn selected(&self, focused: bool) -> Style {
        if focused {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        }
    }

    pub fn column_header(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn muted(&self) -> Style {
        if self.color { Style::new().fg(Color::DarkGray) } else { Style::new() }
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn badge(&self) -> Style {
        let style = Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED);
        if self.color { style.fg(Color::Red) } else { style }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_theme_emits_no_colour_for_any_health() {
        let theme = Theme { color: false };
        for health in Health::ALL {
            let style = theme.health(health);
            assert_eq!(style.fg, None, "{health:?}");
            assert_eq!(style.bg, None, "{health:?}");
        }
        assert_eq!(theme.badge().fg, None);
        assert_eq!(theme.error().fg, None);
    }

    #[test]
    fn colour_theme_follows_the_design_table() {
        let theme = Theme::default();
        assert_eq!(theme.health(Health::Active).fg, Some(Color::Green));
        assert_eq!(theme.health(Health::Pending).fg, Some(Color::Yellow));
        assert_eq!(theme.health(Health::Error).fg, Some(Color::Red));
        assert_eq!(theme.health(Health::Disabled).fg, Some(Color::DarkGray));
        assert_eq!(theme.health(Health::Unknown).fg, Some(Color::Magenta));
        assert_eq!(theme.health(Health::NotInstalled).fg, None);
    }
}
