//! One key with its modifiers, as config.toml writes it (`ctrl-d`, `G`, `shift-tab`, `f5`) and
//! as the help shows it.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// One key with its modifiers, normalized so that `G` and `shift-g` are the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    pub fn new(code: KeyCode, modifiers: KeyModifiers) -> Self {
        // The case of a character already says whether shift was held, and terminals disagree
        // on reporting SHIFT with it; BackTab likewise implies shift.
        let modifiers = match code {
            KeyCode::Char(_) | KeyCode::BackTab => modifiers - KeyModifiers::SHIFT,
            _ => modifiers,
        };
        Self { code, modifiers }
    }

    /// A character typed without ctrl or alt.
    pub fn is_plain_character(&self) -> bool {
        matches!(self.code, KeyCode::Char(_)) && !self.modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    }

    pub fn from_event(event: &KeyEvent) -> Self {
        Self::new(event.code, event.modifiers)
    }

    /// Parses `j`, `G`, `?`, `enter`, `ctrl-d`, `alt-x`, `shift-tab`, `f5`, `pagedown`...
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        // A lone "-" or "+" is a key, not a separator.
        while rest.len() > 1 {
            let Some((prefix, tail)) = rest.split_once(['-', '+']) else { break };
            if tail.is_empty() {
                break;
            }
            modifiers |= match prefix.to_ascii_lowercase().as_str() {
                "ctrl" | "c" => KeyModifiers::CONTROL,
                "alt" | "a" | "meta" | "m" => KeyModifiers::ALT,
                "shift" | "s" => KeyModifiers::SHIFT,
                other => return Err(format!("unknown modifier {other:?} in key {text:?} (use ctrl-, alt-, shift-)")),
            };
            rest = tail;
        }
        let mut chars = rest.chars();
        let code = match (chars.next(), chars.next()) {
            (Some(character), None) => {
                if modifiers.contains(KeyModifiers::SHIFT) && character.is_ascii_alphabetic() {
                    KeyCode::Char(character.to_ascii_uppercase())
                } else {
                    KeyCode::Char(character)
                }
            }
            (None, _) => return Err(format!("empty key in {text:?}")),
            _ => match rest.to_ascii_lowercase().as_str() {
                "enter" | "return" => KeyCode::Enter,
                "esc" | "escape" => KeyCode::Esc,
                "tab" if modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
                "tab" => KeyCode::Tab,
                "backtab" => KeyCode::BackTab,
                "space" => KeyCode::Char(' '),
                "backspace" => KeyCode::Backspace,
                "delete" | "del" => KeyCode::Delete,
                "insert" | "ins" => KeyCode::Insert,
                "up" => KeyCode::Up,
                "down" => KeyCode::Down,
                "left" => KeyCode::Left,
                "right" => KeyCode::Right,
                "home" => KeyCode::Home,
                "end" => KeyCode::End,
                "pageup" | "pgup" => KeyCode::PageUp,
                "pagedown" | "pgdn" => KeyCode::PageDown,
                name => match name.strip_prefix('f').and_then(|number| number.parse::<u8>().ok()) {
                    Some(number @ 1..=24) => KeyCode::F(number),
                    _ => return Err(format!("unknown key {text:?}")),
                },
            },
        };
        Ok(Self::new(code, modifiers))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        if self.modifiers.contains(KeyModifiers::SHIFT) {
            f.write_str("shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(character) => write!(f, "{character}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("shift-tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(number) => write!(f, "f{number}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_strings_parse_and_print() {
        for (text, printed) in
            [("ctrl-d", "ctrl-d"), ("shift-tab", "shift-tab"), ("S-g", "G"), ("-", "-"), ("f12", "f12")]
        {
            assert_eq!(Key::parse(text).unwrap().to_string(), printed, "{text}");
        }
        assert!(Key::parse("").is_err());
        assert!(Key::parse("f99").is_err());
        assert!(Key::parse("banana").is_err());
    }
}
