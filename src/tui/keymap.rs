//! The one table of key bindings. The hint bar and the `?` help are generated from it, users
//! rebind or unbind defaults through `[keys]` in config.toml, and read-only mode drops every
//! mutating binding, so a forbidden action is absent rather than refused at run time.

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Everything a key can ask the dashboard to do in the normal (browsing) mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Command {
    MoveDown,
    MoveUp,
    Top,
    Bottom,
    PageDown,
    PageUp,
    NextPane,
    PrevPane,
    DrillIn,
    Back,
    Filter,
    Triage,
    Refresh,
    RefreshConnection,
    OpenRepair,
    Copy,
    Mint,
    Help,
    Quit,
}

/// A command's name in config.toml, its description, whether it changes the platform, its
/// default keys, and whether the hint bar shows it.
struct Spec {
    command: Command,
    name: &'static str,
    description: &'static str,
    mutating: bool,
    defaults: &'static [&'static str],
    hint: Option<&'static str>,
}

const SPECS: &[Spec] = &[
    spec(Command::MoveDown, "move_down", "move the selection down", &["j", "down"], None),
    spec(Command::MoveUp, "move_up", "move the selection up", &["k", "up"], None),
    spec(Command::Top, "top", "jump to the first row", &["g", "home"], None),
    spec(Command::Bottom, "bottom", "jump to the last row", &["G", "end"], None),
    spec(Command::PageDown, "page_down", "move one page down", &["pagedown", "ctrl-d"], None),
    spec(Command::PageUp, "page_up", "move one page up", &["pageup", "ctrl-u"], None),
    spec(Command::NextPane, "next_pane", "focus the next pane", &["tab"], Some("pane")),
    spec(Command::PrevPane, "prev_pane", "focus the previous pane", &["backtab"], None),
    spec(Command::DrillIn, "drill_in", "drill into the selection", &["enter"], Some("open")),
    spec(Command::Back, "back", "back out, or clear the filter", &["esc"], Some("back")),
    spec(Command::Filter, "filter", "filter the focused list (status:, connector:, context:)", &["/"], Some("filter")),
    spec(
        Command::Triage,
        "triage",
        "every connection that needs attention, across all contexts",
        &["t"],
        Some("triage"),
    ),
    spec(Command::Refresh, "refresh", "reload everything now", &["r"], Some("refresh")),
    Spec {
        command: Command::RefreshConnection,
        name: "refresh_connection",
        description: "refresh the selected connection's token now",
        mutating: true,
        defaults: &["f"],
        hint: Some("renew"),
    },
    spec(
        Command::OpenRepair,
        "open_repair",
        "open the repair URL of the selection in a browser",
        &["o"],
        Some("repair"),
    ),
    spec(Command::Copy, "copy", "copy the selection's id or URL (OSC 52)", &["y"], Some("copy")),
    Spec {
        command: Command::Mint,
        name: "mint",
        description: "mint a context token",
        mutating: true,
        defaults: &["m"],
        hint: Some("mint"),
    },
    spec(Command::Help, "help", "show every key", &["?"], Some("help")),
    spec(Command::Quit, "quit", "quit (ctrl-c always quits)", &["q"], Some("quit")),
];

const fn spec(
    command: Command,
    name: &'static str,
    description: &'static str,
    defaults: &'static [&'static str],
    hint: Option<&'static str>,
) -> Spec {
    Spec { command, name, description, mutating: false, defaults, hint }
}

impl Command {
    fn spec(self) -> &'static Spec {
        SPECS.iter().find(|spec| spec.command == self).expect("every command has a spec")
    }

    /// The name used in config.toml's `[keys]` table.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn description(self) -> &'static str {
        self.spec().description
    }

    /// True when the command changes something on the platform; read-only mode drops it.
    pub fn is_mutating(self) -> bool {
        self.spec().mutating
    }

    pub fn from_name(name: &str) -> Option<Self> {
        SPECS.iter().find(|spec| spec.name == name).map(|spec| spec.command)
    }
}

/// One key with its modifiers, normalized so that `G` and `shift-g` are the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Key {
    fn new(code: KeyCode, modifiers: KeyModifiers) -> Self {
        // The case of a character already says whether shift was held, and terminals disagree
        // on reporting SHIFT with it; BackTab likewise implies shift.
        let modifiers = match code {
            KeyCode::Char(_) | KeyCode::BackTab => modifiers - KeyModifiers::SHIFT,
            _ => modifiers,
        };
        Self { code, modifiers }
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

/// One live binding: the command and the keys that trigger it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub command: Command,
    pub keys: Vec<Key>,
}

/// The live keymap after user overrides and read-only filtering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self::new(&BTreeMap::new(), false).expect("the default keymap is valid")
    }
}

impl Keymap {
    /// Builds the keymap from the defaults and the `[keys]` table of config.toml: each entry
    /// replaces the keys of one command, an empty list unbinds it. Every problem (unknown
    /// command, unparsable key, a key bound twice) is reported in one error.
    pub fn new(overrides: &BTreeMap<String, Vec<String>>, read_only: bool) -> Result<Self, String> {
        let mut problems = Vec::new();
        for name in overrides.keys() {
            if Command::from_name(name).is_none() {
                let known: Vec<&str> = SPECS.iter().map(|spec| spec.name).collect();
                problems.push(format!("[keys] {name}: unknown action; known actions: {}", known.join(", ")));
            }
        }
        let mut bindings = Vec::new();
        for spec in SPECS {
            if read_only && spec.mutating {
                continue;
            }
            let texts: Vec<&str> = match overrides.get(spec.name) {
                Some(texts) => texts.iter().map(String::as_str).collect(),
                None => spec.defaults.to_vec(),
            };
            let mut keys = Vec::new();
            for text in texts {
                match Key::parse(text) {
                    Ok(key) if key == Key::new(KeyCode::Char('c'), KeyModifiers::CONTROL) => {
                        problems.push(format!("[keys] {}: ctrl-c is reserved for quitting", spec.name));
                    }
                    Ok(key) => keys.push(key),
                    Err(problem) => problems.push(format!("[keys] {}: {problem}", spec.name)),
                }
            }
            if !keys.is_empty() {
                bindings.push(Binding { command: spec.command, keys });
            }
        }
        for (i, binding) in bindings.iter().enumerate() {
            for other in &bindings[i + 1..] {
                for key in binding.keys.iter().filter(|key| other.keys.contains(key)) {
                    problems.push(format!(
                        "[keys] key {key} is bound to both {} and {}; unbind one of them",
                        binding.command.name(),
                        other.command.name()
                    ));
                }
            }
        }
        if problems.is_empty() { Ok(Self { bindings }) } else { Err(problems.join("\n")) }
    }

    pub fn command_for(&self, event: &KeyEvent) -> Option<Command> {
        let key = Key::from_event(event);
        self.bindings.iter().find(|binding| binding.keys.contains(&key)).map(|binding| binding.command)
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    pub fn keys_of(&self, command: Command) -> Option<&[Key]> {
        self.bindings.iter().find(|binding| binding.command == command).map(|binding| binding.keys.as_slice())
    }

    /// `(key, label)` pairs for the hint bar: help and quit first, so a narrow terminal still
    /// shows the way out, then the rest in table order.
    pub fn hints(&self) -> Vec<(String, &'static str)> {
        let first = |binding: &&Binding| !matches!(binding.command, Command::Help | Command::Quit);
        let mut bindings: Vec<&Binding> = self.bindings.iter().collect();
        bindings.sort_by_key(first);
        bindings
            .into_iter()
            .filter_map(|binding| {
                let label = binding.command.spec().hint?;
                Some((binding.keys[0].to_string(), label))
            })
            .collect()
    }

    /// `(keys, description)` for every live binding, for the help popup.
    pub fn help_lines(&self) -> Vec<(String, &'static str)> {
        self.bindings
            .iter()
            .map(|binding| {
                let keys: Vec<String> = binding.keys.iter().map(Key::to_string).collect();
                (keys.join(" "), binding.command.description())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn defaults_bind_the_k9s_grammar() {
        let keymap = Keymap::default();
        assert_eq!(keymap.command_for(&press(KeyCode::Char('j'), KeyModifiers::NONE)), Some(Command::MoveDown));
        assert_eq!(keymap.command_for(&press(KeyCode::Down, KeyModifiers::NONE)), Some(Command::MoveDown));
        // Terminals report shifted letters with or without SHIFT: both are the same key.
        assert_eq!(keymap.command_for(&press(KeyCode::Char('G'), KeyModifiers::SHIFT)), Some(Command::Bottom));
        assert_eq!(keymap.command_for(&press(KeyCode::Char('G'), KeyModifiers::NONE)), Some(Command::Bottom));
        assert_eq!(keymap.command_for(&press(KeyCode::BackTab, KeyModifiers::SHIFT)), Some(Command::PrevPane));
        assert_eq!(keymap.command_for(&press(KeyCode::Char('d'), KeyModifiers::CONTROL)), Some(Command::PageDown));
        assert_eq!(keymap.command_for(&press(KeyCode::Char('m'), KeyModifiers::NONE)), Some(Command::Mint));
        assert_eq!(
            keymap.command_for(&press(KeyCode::Char('f'), KeyModifiers::NONE)),
            Some(Command::RefreshConnection)
        );
        assert!(keymap.hints().contains(&("f".to_owned(), "renew")), "{:?}", keymap.hints());
        assert_eq!(keymap.command_for(&press(KeyCode::Char('z'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn overrides_rebind_and_unbind() {
        let overrides = BTreeMap::from([
            ("quit".to_owned(), vec!["ctrl-q".to_owned()]),
            ("triage".to_owned(), vec!["!".to_owned(), "f2".to_owned()]),
            ("mint".to_owned(), vec![]),
        ]);
        let keymap = Keymap::new(&overrides, false).unwrap();
        assert_eq!(keymap.command_for(&press(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(keymap.command_for(&press(KeyCode::Char('q'), KeyModifiers::CONTROL)), Some(Command::Quit));
        assert_eq!(keymap.command_for(&press(KeyCode::F(2), KeyModifiers::NONE)), Some(Command::Triage));
        assert_eq!(keymap.command_for(&press(KeyCode::Char('m'), KeyModifiers::NONE)), None);
        assert!(keymap.help_lines().iter().all(|(_, description)| *description != "mint a context token"));
    }

    #[test]
    fn bad_overrides_are_all_reported() {
        let overrides = BTreeMap::from([
            ("teleport".to_owned(), vec!["x".to_owned()]),
            ("refresh".to_owned(), vec!["hyper-r".to_owned(), "j".to_owned()]),
            ("copy".to_owned(), vec!["ctrl-c".to_owned()]),
        ]);
        let error = Keymap::new(&overrides, false).unwrap_err();
        assert!(error.contains("teleport: unknown action"), "{error}");
        assert!(error.contains("unknown modifier \"hyper\""), "{error}");
        assert!(error.contains("key j is bound to both move_down and refresh"), "{error}");
        assert!(error.contains("ctrl-c is reserved"), "{error}");
    }

    #[test]
    fn read_only_drops_mutating_bindings() {
        let keymap = Keymap::new(&BTreeMap::new(), true).unwrap();
        assert_eq!(keymap.command_for(&press(KeyCode::Char('m'), KeyModifiers::NONE)), None);
        assert_eq!(keymap.command_for(&press(KeyCode::Char('f'), KeyModifiers::NONE)), None);
        assert!(keymap.bindings().iter().all(|binding| !binding.command.is_mutating()));
        assert!(keymap.hints().iter().all(|(_, label)| *label != "renew"));
        assert!(keymap.hints().iter().all(|(_, label)| *label != "mint"));
        // Opening a URL is not mutating and stays.
        assert_eq!(keymap.command_for(&press(KeyCode::Char('o'), KeyModifiers::NONE)), Some(Command::OpenRepair));
    }

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
