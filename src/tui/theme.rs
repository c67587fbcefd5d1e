//! Colours and emphasis. The only place that maps a [`Health`] to a colour.
//!
//! With `NO_COLOR` set (https://no-color.org) no colour is emitted at all; symbols and words
//! carry the meaning everywhere, so nothing depends on colour alone.

use std::collections::BTreeMap;
use std::path::Path;

use ratatui::style::{Color, Modifier, Style};

use crate::model::Health;

/// The styles a skin may override, by their name in `[theme]` and in skin files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skin {
    pub active: Style,
    pub pending: Style,
    pub error: Style,
    pub disabled: Style,
    pub unknown: Style,
    pub not_installed: Style,
    /// The border of the focused pane and of popups.
    pub border: Style,
    /// The selected row of the focused pane.
    pub selected: Style,
    /// The selected row of the other panes.
    pub selected_unfocused: Style,
    /// Column headers of the lists.
    pub header: Style,
    /// Pane titles and the dashboard's name.
    pub title: Style,
    pub key: Style,
    pub muted: Style,
    /// The READ-ONLY and triage badges.
    pub badge: Style,
}

impl Default for Skin {
    fn default() -> Self {
        let fg = |color| Style::new().fg(color);
        Self {
            active: fg(Color::Green),
            pending: fg(Color::Yellow),
            error: fg(Color::Red).add_modifier(Modifier::BOLD),
            disabled: fg(Color::DarkGray),
            unknown: fg(Color::Magenta),
            not_installed: Style::new(),
            border: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            // Reversed video works with and without colour.
            selected: Style::new().add_modifier(Modifier::REVERSED),
            selected_unfocused: Style::new().add_modifier(Modifier::UNDERLINED),
            header: Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            title: Style::new().add_modifier(Modifier::BOLD),
            key: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            muted: fg(Color::DarkGray),
            badge: fg(Color::Red).add_modifier(Modifier::BOLD | Modifier::REVERSED),
        }
    }
}

/// The `[theme]` key naming a skin file; every other key names a style slot.
const SKIN_FILE_KEY: &str = "skin";

/// Style slot names, in the order the docs list them.
pub const SLOTS: [&str; 14] = [
    "active",
    "pending",
    "error",
    "disabled",
    "unknown",
    "not_installed",
    "border",
    "selected",
    "selected_unfocused",
    "header",
    "title",
    "key",
    "muted",
    "badge",
];

impl Skin {
    fn slot_mut(&mut self, name: &str) -> Option<&mut Style> {
        Some(match name {
            "active" => &mut self.active,
            "pending" => &mut self.pending,
            "error" => &mut self.error,
            "disabled" => &mut self.disabled,
            "unknown" => &mut self.unknown,
            "not_installed" => &mut self.not_installed,
            "border" => &mut self.border,
            "selected" => &mut self.selected,
            "selected_unfocused" => &mut self.selected_unfocused,
            "header" => &mut self.header,
            "title" => &mut self.title,
            "key" => &mut self.key,
            "muted" => &mut self.muted,
            "badge" => &mut self.badge,
            _ => return None,
        })
    }

    /// The default skin with the `[theme]` table applied: first the skin file it names
    /// (relative to `config_dir`), then its own slots. Every problem is reported at once.
    pub fn from_config(table: &BTreeMap<String, String>, config_dir: &Path) -> Result<Self, String> {
        let mut skin = Self::default();
        let mut problems = Vec::new();
        if let Some(file) = table.get(SKIN_FILE_KEY) {
            let path = config_dir.join(file);
            match std::fs::read_to_string(&path) {
                Ok(text) => match toml::from_str::<BTreeMap<String, String>>(&text) {
                    Ok(slots) => skin.apply(&slots, &format!("skin {}", path.display()), &mut problems),
                    Err(error) => problems.push(format!("skin {}: {}", path.display(), error.message().trim())),
                },
                Err(error) => problems.push(format!("[theme] skin: cannot read {}: {error}", path.display())),
            }
        }
        let slots: BTreeMap<String, String> =
            table.iter().filter(|(name, _)| *name != SKIN_FILE_KEY).map(|(k, v)| (k.clone(), v.clone())).collect();
        skin.apply(&slots, "[theme]", &mut problems);
        if problems.is_empty() { Ok(skin) } else { Err(problems.join("\n")) }
    }

    fn apply(&mut self, slots: &BTreeMap<String, String>, source: &str, problems: &mut Vec<String>) {
        for (name, text) in slots {
            match (self.slot_mut(name), parse_style(text)) {
                (Some(slot), Ok(style)) => *slot = style,
                (Some(_), Err(problem)) => problems.push(format!("{source} {name}: {problem}")),
                (None, _) => {
                    problems.push(format!("{source} {name}: unknown style; known styles: {}", SLOTS.join(", ")))
                }
            }
        }
    }
}

/// Parses `"red bold"`, `"#1e90ff on black underlined"`, `"default"`: a foreground colour, an
/// optional `on COLOUR` background and modifiers, in any order.
pub fn parse_style(text: &str) -> Result<Style, String> {
    let mut style = Style::new();
    let mut words = text.split_whitespace();
    let mut foreground = false;
    while let Some(word) = words.next() {
        let lower = word.to_ascii_lowercase();
        let modifier = match lower.as_str() {
            "bold" => Some(Modifier::BOLD),
            "dim" => Some(Modifier::DIM),
            "italic" => Some(Modifier::ITALIC),
            "underlined" | "underline" => Some(Modifier::UNDERLINED),
            "reversed" | "reverse" => Some(Modifier::REVERSED),
            "crossed_out" => Some(Modifier::CROSSED_OUT),
            _ => None,
        };
        if let Some(modifier) = modifier {
            style = style.add_modifier(modifier);
        } else if lower == "default" {
            // The terminal's own colours: an explicit way to say "no colour".
        } else if lower == "on" {
            let colour = words.next().ok_or_else(|| format!("{text:?}: `on` needs a background colour"))?;
            style = style.bg(parse_color(colour, text)?);
        } else if foreground {
            return Err(format!("{text:?}: two foreground colours ({word:?}); use `on COLOUR` for the background"));
        } else {
            style = style.fg(parse_color(word, text)?);
            foreground = true;
        }
    }
    Ok(style)
}

fn parse_color(word: &str, text: &str) -> Result<Color, String> {
    word.parse::<Color>().map_err(|_| {
        format!(
            "{text:?}: unknown colour or modifier {word:?} (colours: red, lightblue, darkgray, #rrggbb, 0-255; \
             modifiers: bold, dim, italic, underlined, reversed)"
        )
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
    pub skin: Skin,
}

impl Default for Theme {
    fn default() -> Self {
        Self { color: true, skin: Skin::default() }
    }
}

impl Theme {
    /// Honours `NO_COLOR` when it is present and not empty: it wins over any skin.
    pub fn from_env(skin: Skin) -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
        Self { color: !no_color, skin }
    }

    /// The style as the skin says, without its colours under `NO_COLOR` (modifiers stay: they
    /// carry meaning without colour).
    fn styled(&self, style: Style) -> Style {
        if self.color {
            style
        } else {
            Style::new().add_modifier(style.add_modifier).remove_modifier(style.sub_modifier)
        }
    }

    pub fn health(&self, health: Health) -> Style {
        let skin = &self.skin;
        self.styled(match health {
            Health::Active => skin.active,
            Health::Pending => skin.pending,
            Health::Error => skin.error,
            Health::Disabled => skin.disabled,
            Health::Unknown => skin.unknown,
            Health::NotInstalled => skin.not_installed,
        })
    }

    pub fn border(&self, focused: bool) -> Style {
        if focused { self.styled(self.skin.border) } else { Style::new() }
    }

    pub fn title(&self) -> Style {
        self.styled(self.skin.title)
    }

    pub fn selected(&self, focused: bool) -> Style {
        self.styled(if focused { self.skin.selected } else { self.skin.selected_unfocused })
    }

    pub fn column_header(&self) -> Style {
        self.styled(self.skin.header)
    }

    pub fn error(&self) -> Style {
        self.styled(self.skin.error)
    }

    pub fn muted(&self) -> Style {
        self.styled(self.skin.muted)
    }

    pub fn key(&self) -> Style {
        self.styled(self.skin.key)
    }

    pub fn badge(&self) -> Style {
        self.styled(self.skin.badge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_theme_emits_no_colour_for_any_health() {
        let theme = Theme { color: false, ..Theme::default() };
        for health in Health::ALL {
            let style = theme.health(health);
            assert_eq!(style.fg, None, "{health:?}");
            assert_eq!(style.bg, None, "{health:?}");
        }
        assert_eq!(theme.badge().fg, None);
        assert_eq!(theme.error().fg, None);
    }

    #[test]
    fn styles_parse_colours_backgrounds_and_modifiers() {
        assert_eq!(parse_style("red bold"), Ok(Style::new().fg(Color::Red).add_modifier(Modifier::BOLD)));
        assert_eq!(
            parse_style("#1e90ff on black underlined"),
            Ok(Style::new().fg(Color::Rgb(0x1e, 0x90, 0xff)).bg(Color::Black).add_modifier(Modifier::UNDERLINED))
        );
        assert_eq!(parse_style("default"), Ok(Style::new()));
        assert!(parse_style("red blue").unwrap_err().contains("two foreground colours"));
        assert!(parse_style("on").unwrap_err().contains("needs a background"));
        assert!(parse_style("blinky").unwrap_err().contains("unknown colour or modifier \"blinky\""));
    }

    #[test]
    fn every_theme_problem_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.toml"), "active = \"chartreuse-ish\"\n").unwrap();
        let table: BTreeMap<String, String> = [
            ("skin".to_owned(), "bad.toml".to_owned()),
            ("eror".to_owned(), "red".to_owned()),
            ("border".to_owned(), "bold on".to_owned()),
        ]
        .into();
        let problems = Skin::from_config(&table, dir.path()).unwrap_err();
        assert!(problems.contains("bad.toml active: \"chartreuse-ish\": unknown colour"), "{problems}");
        assert!(problems.contains("[theme] eror: unknown style; known styles: active,"), "{problems}");
        assert!(problems.contains("[theme] border: \"bold on\": `on` needs a background colour"), "{problems}");
        let missing = [("skin".to_owned(), "nowhere.toml".to_owned())].into();
        assert!(Skin::from_config(&missing, dir.path()).unwrap_err().contains("cannot read"));
    }

    #[test]
    fn the_shipped_skins_are_valid_and_the_table_wins_over_the_file() {
        let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/skins");
        for file in ["light.toml", "high-contrast.toml"] {
            let table = [("skin".to_owned(), file.to_owned())].into();
            let skin = Skin::from_config(&table, &assets).unwrap_or_else(|problems| panic!("{file}: {problems}"));
            assert_ne!(skin, Skin::default(), "{file} changes something");
        }
        let table = [("skin".to_owned(), "light.toml".to_owned()), ("error".to_owned(), "blue".to_owned())].into();
        let skin = Skin::from_config(&table, &assets).unwrap();
        assert_eq!(skin.error, Style::new().fg(Color::Blue));
        assert_eq!(skin.active, Style::new().fg(Color::Rgb(0x1a, 0x7f, 0x37)), "the file's other styles stay");
    }

    #[test]
    fn no_color_wins_over_a_skin_and_keeps_its_modifiers() {
        let skin = Skin { selected: parse_style("black on yellow bold").unwrap(), ..Skin::default() };
        let theme = Theme { color: false, skin };
        assert_eq!(theme.selected(true), Style::new().add_modifier(Modifier::BOLD));
        assert_eq!(Theme { color: true, skin }.selected(true).bg, Some(Color::Yellow));
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
