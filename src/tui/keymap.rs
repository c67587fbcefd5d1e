//! The one table of key bindings, for every mode of the dashboard. The hint bar and the `?`
//! help are generated from it, users rebind or unbind defaults through `[keys]` (browsing) and
//! `[keys.MODE]` (the other modes) in config.toml, keys are conflict-checked per mode, and
//! read-only mode drops every mutating binding, so a forbidden action is absent rather than
//! refused at run time.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::key::Key;
use crate::config::{KeyOverride, KeyOverrides};

/// What the keyboard talks to; each mode has its own bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyMode {
    /// The panes.
    Browse,
    /// Typing the `/` filter: unbound keys edit the text.
    Filter,
    /// Typing a `:` command: unbound keys edit the text.
    Command,
    /// The `?` popup.
    Help,
    /// The context-token form: unbound keys edit the focused field.
    Mint,
    /// The minted-token and repair-URL popups.
    Popup,
    /// The profile picker.
    Profiles,
    /// A plugin asking before it runs.
    Confirm,
    /// The Events view.
    Events,
}

impl KeyMode {
    pub const ALL: [KeyMode; 9] = [
        KeyMode::Browse,
        KeyMode::Filter,
        KeyMode::Command,
        KeyMode::Help,
        KeyMode::Mint,
        KeyMode::Popup,
        KeyMode::Profiles,
        KeyMode::Confirm,
        KeyMode::Events,
    ];

    /// The mode's name in config.toml: `[keys.NAME]` (browsing keys may also sit in `[keys]`).
    pub fn name(self) -> &'static str {
        match self {
            KeyMode::Browse => "browse",
            KeyMode::Filter => "filter",
            KeyMode::Command => "command",
            KeyMode::Help => "help",
            KeyMode::Mint => "mint",
            KeyMode::Popup => "popup",
            KeyMode::Profiles => "profiles",
            KeyMode::Confirm => "confirm",
            KeyMode::Events => "events",
        }
    }

    /// Where the mode's keys apply, as the `?` help heads them.
    pub fn title(self) -> &'static str {
        match self {
            KeyMode::Browse => "browsing",
            KeyMode::Filter => "typing a filter (other keys edit it)",
            KeyMode::Command => "the : command line (other keys edit it)",
            KeyMode::Help => "this help",
            KeyMode::Mint => "the mint form (other keys edit the field)",
            KeyMode::Popup => "the token and repair URL popups",
            KeyMode::Profiles => "the profile picker",
            KeyMode::Confirm => "a plugin's confirmation",
            KeyMode::Events => "the Events view",
        }
    }

    /// True when unbound keys type text: a plain character bound there could not be typed.
    fn edits_text(self) -> bool {
        matches!(self, KeyMode::Filter | KeyMode::Command | KeyMode::Mint)
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|mode| mode.name() == name)
    }
}

/// Everything a key can ask the dashboard to do, in every mode.
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
    CommandLine,
    Sort,
    SortFlip,
    SortByColumn,
    Triage,
    Refresh,
    RefreshConnection,
    OpenRepair,
    Copy,
    Mint,
    Help,
    Quit,
    FilterApply,
    FilterClear,
    CommandRun,
    CommandCancel,
    CommandComplete,
    CommandCompleteBack,
    CommandHistoryPrev,
    CommandHistoryNext,
    HelpClose,
    HelpScrollDown,
    HelpScrollUp,
    HelpPageDown,
    HelpPageUp,
    MintSubmit,
    MintNextField,
    MintPrevField,
    MintCancel,
    PopupReveal,
    PopupCopy,
    PopupClose,
    Profiles,
    ProfilesDown,
    ProfilesUp,
    ProfilesChoose,
    ProfilesClose,
    ConfirmYes,
    ConfirmNo,
    Events,
    EventsDown,
    EventsUp,
    EventsTop,
    EventsBottom,
    EventsPageDown,
    EventsPageUp,
    EventsFilter,
    EventsJump,
    EventsClose,
}

/// A command's default binding: its mode, its name in config.toml, what it does, whether it
/// changes the platform, its default keys, and its hint-bar label (browsing only). Public so
/// that documentation can be checked against the defaults (see [`default_bindings`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultBinding {
    pub mode: KeyMode,
    pub command: Command,
    pub name: &'static str,
    pub description: &'static str,
    pub mutating: bool,
    pub keys: &'static [&'static str],
    pub hint: Option<&'static str>,
}

/// Every command's default binding, mode by mode, in the order `?` lists them.
pub fn default_bindings() -> &'static [DefaultBinding] {
    SPECS
}

const SPECS: &[DefaultBinding] = &[
    browse(Command::MoveDown, "move_down", "move the selection down", &["j", "down"], None),
    browse(Command::MoveUp, "move_up", "move the selection up", &["k", "up"], None),
    browse(Command::Top, "top", "jump to the first row", &["g", "home"], None),
    browse(Command::Bottom, "bottom", "jump to the last row", &["G", "end"], None),
    browse(Command::PageDown, "page_down", "move one page down", &["pagedown", "ctrl-d"], None),
    browse(Command::PageUp, "page_up", "move one page up", &["pageup", "ctrl-u"], None),
    browse(Command::NextPane, "next_pane", "focus the next pane", &["tab"], Some("pane")),
    browse(Command::PrevPane, "prev_pane", "focus the previous pane", &["backtab"], None),
    browse(Command::DrillIn, "drill_in", "drill into the selection", &["enter"], Some("open")),
    browse(Command::Back, "back", "back out, or clear the filter", &["esc"], Some("back")),
    browse(
        Command::Filter,
        "filter",
        "filter the focused list (status:, connector:, context:)",
        &["/"],
        Some("filter"),
    ),
    browse(Command::CommandLine, "command", "type a command (:help lists them)", &[":"], None),
    browse(Command::Sort, "sort", "sort the focused list by its next column, then unsorted", &["s"], None),
    browse(Command::SortFlip, "sort_flip", "flip the sort order of the focused list", &["S"], None),
    browse(
        Command::SortByColumn,
        "sort_by_column",
        "sort the focused list by its Nth column; again: flip",
        &["1", "2", "3", "4", "5", "6", "7", "8", "9"],
        None,
    ),
    browse(
        Command::Triage,
        "triage",
        "every connection that needs attention, across all contexts",
        &["t"],
        Some("triage"),
    ),
    browse(Command::Refresh, "refresh", "reload everything now", &["r"], Some("refresh")),
    DefaultBinding {
        mutating: true,
        ..browse(
            Command::RefreshConnection,
            "refresh_connection",
            "refresh the selected connection's token now",
            &["f"],
            Some("renew"),
        )
    },
    browse(
        Command::OpenRepair,
        "open_repair",
        "open the repair URL of the selection in a browser",
        &["o"],
        Some("repair"),
    ),
    browse(Command::Copy, "copy", "copy the selection's id or URL (OSC 52)", &["y"], Some("copy")),
    DefaultBinding { mutating: true, ..browse(Command::Mint, "mint", "mint a context token", &["m"], Some("mint")) },
    browse(Command::Events, "events", "the Events view (live) and the 24-hour chart", &["E"], None),
    browse(Command::Profiles, "profiles", "switch to another profile (or the demo)", &["P"], None),
    browse(Command::Help, "help", "show every key", &["?"], Some("help")),
    browse(Command::Quit, "quit", "quit (ctrl-c always quits)", &["q"], Some("quit")),
    other(KeyMode::Filter, Command::FilterApply, "apply", "keep the filter and go back to the list", &["enter"]),
    other(KeyMode::Filter, Command::FilterClear, "clear", "clear the filter and go back to the list", &["esc"]),
    other(KeyMode::Command, Command::CommandRun, "run", "run the command", &["enter"]),
    other(KeyMode::Command, Command::CommandCancel, "cancel", "close the command line", &["esc"]),
    other(
        KeyMode::Command,
        Command::CommandComplete,
        "complete",
        "complete the word; again: the next candidate",
        &["tab"],
    ),
    other(KeyMode::Command, Command::CommandCompleteBack, "complete_back", "the previous candidate", &["backtab"]),
    other(KeyMode::Command, Command::CommandHistoryPrev, "history_back", "an older command from the history", &["up"]),
    other(
        KeyMode::Command,
        Command::CommandHistoryNext,
        "history_forward",
        "a newer command from the history",
        &["down"],
    ),
    other(KeyMode::Help, Command::HelpClose, "close", "close the help", &["esc", "enter", "q", "?"]),
    other(KeyMode::Help, Command::HelpScrollDown, "scroll_down", "scroll down a line", &["j", "down"]),
    other(KeyMode::Help, Command::HelpScrollUp, "scroll_up", "scroll up a line", &["k", "up"]),
    other(KeyMode::Help, Command::HelpPageDown, "page_down", "scroll down a page", &["pagedown", "space"]),
    other(KeyMode::Help, Command::HelpPageUp, "page_up", "scroll up a page", &["pageup"]),
    // The form opens only through the mutating `mint` command: read-only drops all of it.
    mint(Command::MintSubmit, "submit", "mint the token", &["enter"]),
    mint(Command::MintNextField, "next_field", "move to the next field", &["tab", "down"]),
    mint(Command::MintPrevField, "prev_field", "move to the previous field", &["backtab", "up"]),
    mint(Command::MintCancel, "cancel", "close the form", &["esc"]),
    other(KeyMode::Popup, Command::PopupReveal, "reveal", "reveal or hide the token", &["v"]),
    other(KeyMode::Popup, Command::PopupCopy, "copy", "copy the token or the URL (OSC 52)", &["y", "c"]),
    other(KeyMode::Popup, Command::PopupClose, "close", "close the popup", &["esc", "enter", "q"]),
    other(KeyMode::Profiles, Command::ProfilesDown, "move_down", "move down", &["j", "down"]),
    other(KeyMode::Profiles, Command::ProfilesUp, "move_up", "move up", &["k", "up"]),
    other(KeyMode::Profiles, Command::ProfilesChoose, "choose", "open the chosen profile", &["enter"]),
    other(KeyMode::Profiles, Command::ProfilesClose, "close", "keep the current profile", &["esc", "q"]),
    other(KeyMode::Confirm, Command::ConfirmYes, "yes", "run the plugin", &["y", "enter"]),
    other(KeyMode::Confirm, Command::ConfirmNo, "no", "do not run it", &["n", "esc", "q"]),
    other(KeyMode::Events, Command::EventsDown, "move_down", "move down the events", &["j", "down"]),
    other(KeyMode::Events, Command::EventsUp, "move_up", "move up the events", &["k", "up"]),
    other(KeyMode::Events, Command::EventsTop, "top", "the newest event", &["g", "home"]),
    other(KeyMode::Events, Command::EventsBottom, "bottom", "the oldest event kept", &["G", "end"]),
    other(KeyMode::Events, Command::EventsPageDown, "page_down", "one page down", &["pagedown", "ctrl-d"]),
    other(KeyMode::Events, Command::EventsPageUp, "page_up", "one page up", &["pageup", "ctrl-u"]),
    other(KeyMode::Events, Command::EventsFilter, "filter", "filter the events (type: connector: context:)", &["/"]),
    other(KeyMode::Events, Command::EventsJump, "jump", "go to the event's connection", &["enter"]),
    other(KeyMode::Events, Command::EventsClose, "close", "clear the filter, else back to the panes", &["esc", "E"]),
];

/// Commands that must keep a key: the only way out of their mode (ctrl-c aside, which quits
/// the whole dashboard).
const WAYS_OUT: [Command; 8] = [
    Command::FilterApply,
    Command::CommandCancel,
    Command::HelpClose,
    Command::MintCancel,
    Command::PopupClose,
    Command::ProfilesClose,
    Command::ConfirmNo,
    Command::EventsClose,
];

const fn browse(
    command: Command,
    name: &'static str,
    description: &'static str,
    keys: &'static [&'static str],
    hint: Option<&'static str>,
) -> DefaultBinding {
    DefaultBinding { mode: KeyMode::Browse, command, name, description, mutating: false, keys, hint }
}

const fn other(
    mode: KeyMode,
    command: Command,
    name: &'static str,
    description: &'static str,
    keys: &'static [&'static str],
) -> DefaultBinding {
    DefaultBinding { mode, command, name, description, mutating: false, keys, hint: None }
}

const fn mint(
    command: Command,
    name: &'static str,
    description: &'static str,
    keys: &'static [&'static str],
) -> DefaultBinding {
    DefaultBinding { mutating: true, ..other(KeyMode::Mint, command, name, description, keys) }
}

impl Command {
    fn spec(self) -> &'static DefaultBinding {
        SPECS.iter().find(|spec| spec.command == self).expect("every command has a spec")
    }

    /// The name used in config.toml's `[keys]` (or `[keys.MODE]`) table.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    pub fn description(self) -> &'static str {
        self.spec().description
    }

    /// The mode whose keys trigger it.
    pub fn mode(self) -> KeyMode {
        self.spec().mode
    }

    /// True when the command changes something on the platform; read-only mode drops it.
    pub fn is_mutating(self) -> bool {
        self.spec().mutating
    }

    fn from_name(mode: KeyMode, name: &str) -> Option<Self> {
        SPECS.iter().find(|spec| spec.mode == mode && spec.name == name).map(|spec| spec.command)
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
        Self::new(&KeyOverrides::new(), false).expect("the default keymap is valid")
    }
}

/// The `[keys]` table of config.toml, as `(mode, action name) -> key texts`, with every
/// unknown mode or action and every action given twice reported.
fn flatten_overrides(overrides: &KeyOverrides, problems: &mut Vec<String>) -> BTreeMap<(KeyMode, String), Vec<String>> {
    let mut flat = BTreeMap::new();
    let mut add = |mode: KeyMode, table: &str, name: &str, keys: &Vec<String>, problems: &mut Vec<String>| {
        if Command::from_name(mode, name).is_none() {
            let known: Vec<&str> = SPECS.iter().filter(|spec| spec.mode == mode).map(|spec| spec.name).collect();
            problems.push(format!("{table} {name}: unknown action; known actions: {}", known.join(", ")));
        } else if flat.insert((mode, name.to_owned()), keys.clone()).is_some() {
            problems.push(format!("{name}: given both in [keys] and in [keys.browse]; keep one"));
        }
    };
    for (name, entry) in overrides {
        match entry {
            KeyOverride::Keys(keys) => add(KeyMode::Browse, "[keys]", name, keys, problems),
            KeyOverride::Mode(table) => match KeyMode::from_name(name) {
                Some(mode) => {
                    for (action, keys) in table {
                        add(mode, &format!("[keys.{name}]"), action, keys, problems);
                    }
                }
                None => {
                    let known: Vec<&str> = KeyMode::ALL.iter().map(|mode| mode.name()).collect();
                    problems.push(format!("[keys.{name}]: unknown mode; known modes: {}", known.join(", ")));
                }
            },
        }
    }
    flat
}

/// How config.toml names the table of a mode's keys.
fn table_of(mode: KeyMode) -> String {
    if mode == KeyMode::Browse { "[keys]".to_owned() } else { format!("[keys.{}]", mode.name()) }
}

impl Keymap {
    /// Builds the keymap from the defaults and the `[keys]` table of config.toml: each entry
    /// replaces the keys of one command, an empty list unbinds it. Every problem (unknown mode
    /// or command, unparsable key, a key bound twice in one mode, a mode left without a way
    /// out, a text-editing mode losing a character) is reported in one error.
    pub fn new(overrides: &KeyOverrides, read_only: bool) -> Result<Self, String> {
        let mut problems = Vec::new();
        let overrides = flatten_overrides(overrides, &mut problems);
        let mut bindings = Vec::new();
        for spec in SPECS {
            if read_only && spec.mutating {
                continue;
            }
            let table = table_of(spec.mode);
            let texts: Vec<&str> = match overrides.get(&(spec.mode, spec.name.to_owned())) {
                Some(texts) => texts.iter().map(String::as_str).collect(),
                None => spec.keys.to_vec(),
            };
            let mut keys = Vec::new();
            for text in texts {
                match Key::parse(text) {
                    Ok(key) if key == Key::new(KeyCode::Char('c'), KeyModifiers::CONTROL) => {
                        problems.push(format!("{table} {}: ctrl-c is reserved for quitting", spec.name));
                    }
                    Ok(key) if spec.mode.edits_text() && key.is_plain_character() => problems.push(format!(
                        "{table} {}: {key} would no longer type itself; bind a key such as ctrl-{key} instead",
                        spec.name
                    )),
                    Ok(key) => keys.push(key),
                    Err(problem) => problems.push(format!("{table} {}: {problem}", spec.name)),
                }
            }
            if keys.is_empty() && WAYS_OUT.contains(&spec.command) {
                problems.push(format!("{table} {}: needs a key, it is the way out of its mode", spec.name));
            }
            if !keys.is_empty() {
                bindings.push(Binding { command: spec.command, keys });
            }
        }
        for (i, binding) in bindings.iter().enumerate() {
            let mode = binding.command.mode();
            for other in bindings[i + 1..].iter().filter(|other| other.command.mode() == mode) {
                for key in binding.keys.iter().filter(|key| other.keys.contains(key)) {
                    problems.push(format!(
                        "{} key {key} is bound to both {} and {}; unbind one of them",
                        table_of(mode),
                        binding.command.name(),
                        other.command.name()
                    ));
                }
            }
        }
        if problems.is_empty() { Ok(Self { bindings }) } else { Err(problems.join("\n")) }
    }

    /// The command a key triggers in `mode`, if any.
    pub fn command_for(&self, mode: KeyMode, event: &KeyEvent) -> Option<Command> {
        let key = Key::from_event(event);
        self.bindings
            .iter()
            .find(|binding| binding.command.mode() == mode && binding.keys.contains(&key))
            .map(|binding| binding.command)
    }

    pub fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    pub fn keys_of(&self, command: Command) -> Option<&[Key]> {
        self.bindings.iter().find(|binding| binding.command == command).map(|binding| binding.keys.as_slice())
    }

    /// The first key of a command as text (for hints), or `""` when it is unbound.
    pub fn first_key(&self, command: Command) -> String {
        self.keys_of(command).and_then(<[Key]>::first).map(Key::to_string).unwrap_or_default()
    }

    /// `(key, label)` pairs for the browsing hint bar: help and quit first, so a narrow terminal
    /// still shows the way out, then the rest in table order.
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

    /// `(keys, description)` for every live binding of `mode`, for the help popup.
    pub fn help_lines(&self, mode: KeyMode) -> Vec<(String, &'static str)> {
        self.bindings
            .iter()
            .filter(|binding| binding.command.mode() == mode)
            .map(|binding| (keys_text(&binding.keys), binding.command.description()))
            .collect()
    }
}

/// Keys as the help lists them: `j ↓`, and a run of three or more consecutive plain characters
/// as a range (`1-9`), so it fits the help's key column.
fn keys_text(keys: &[Key]) -> String {
    let character = |key: &Key| match key.code {
        KeyCode::Char(character) if key.modifiers.is_empty() => Some(character),
        _ => None,
    };
    let characters: Option<Vec<char>> = keys.iter().map(character).collect();
    if let Some(characters) = characters
        && characters.len() >= 3
        && characters.windows(2).all(|pair| u32::from(pair[0]) + 1 == u32::from(pair[1]))
    {
        return format!("{}-{}", characters[0], characters[characters.len() - 1]);
    }
    keys.iter().map(Key::to_string).collect::<Vec<_>>().join(" ")
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
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('j'), KeyModifiers::NONE)),
            Some(Command::MoveDown)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Down, KeyModifiers::NONE)),
            Some(Command::MoveDown)
        );
        // Terminals report shifted letters with or without SHIFT: both are the same key.
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Command::Bottom)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('G'), KeyModifiers::NONE)),
            Some(Command::Bottom)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Command::PrevPane)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('d'), KeyModifiers::CONTROL)),
            Some(Command::PageDown)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('m'), KeyModifiers::NONE)),
            Some(Command::Mint)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('f'), KeyModifiers::NONE)),
            Some(Command::RefreshConnection)
        );
        assert!(keymap.hints().contains(&("f".to_owned(), "renew")), "{:?}", keymap.hints());
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('4'), KeyModifiers::NONE)),
            Some(Command::SortByColumn)
        );
        let help = keymap.help_lines(KeyMode::Browse);
        assert!(help.contains(&("1-9".to_owned(), Command::SortByColumn.description())), "{help:?}");
        assert!(help.contains(&("j ↓".to_owned(), Command::MoveDown.description())), "{help:?}");
        assert_eq!(keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('z'), KeyModifiers::NONE)), None);
    }

    #[test]
    fn overrides_rebind_and_unbind() {
        let overrides = KeyOverrides::from([
            ("quit".to_owned(), vec!["ctrl-q".to_owned()].into()),
            ("triage".to_owned(), vec!["!".to_owned(), "f2".to_owned()].into()),
            ("mint".to_owned(), vec![].into()),
        ]);
        let keymap = Keymap::new(&overrides, false).unwrap();
        assert_eq!(keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('q'), KeyModifiers::NONE)), None);
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('q'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::F(2), KeyModifiers::NONE)),
            Some(Command::Triage)
        );
        assert_eq!(keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('m'), KeyModifiers::NONE)), None);
        assert!(
            keymap.help_lines(KeyMode::Browse).iter().all(|(_, description)| *description != "mint a context token")
        );
    }

    #[test]
    fn bad_overrides_are_all_reported() {
        let overrides = KeyOverrides::from([
            ("teleport".to_owned(), vec!["x".to_owned()].into()),
            ("refresh".to_owned(), vec!["hyper-r".to_owned(), "j".to_owned()].into()),
            ("copy".to_owned(), vec!["ctrl-c".to_owned()].into()),
        ]);
        let error = Keymap::new(&overrides, false).unwrap_err();
        assert!(error.contains("teleport: unknown action"), "{error}");
        assert!(error.contains("unknown modifier \"hyper\""), "{error}");
        assert!(error.contains("key j is bound to both move_down and refresh"), "{error}");
        assert!(error.contains("ctrl-c is reserved"), "{error}");
    }

    #[test]
    fn read_only_drops_mutating_bindings() {
        let keymap = Keymap::new(&KeyOverrides::new(), true).unwrap();
        assert_eq!(keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('m'), KeyModifiers::NONE)), None);
        assert_eq!(keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('f'), KeyModifiers::NONE)), None);
        assert!(keymap.bindings().iter().all(|binding| !binding.command.is_mutating()));
        assert!(keymap.hints().iter().all(|(_, label)| *label != "renew"));
        assert!(keymap.hints().iter().all(|(_, label)| *label != "mint"));
        // Opening a URL is not mutating and stays.
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('o'), KeyModifiers::NONE)),
            Some(Command::OpenRepair)
        );
    }

    fn mode_table(mode: &str, entries: &[(&str, &[&str])]) -> (String, KeyOverride) {
        let table = entries
            .iter()
            .map(|(name, keys)| ((*name).to_owned(), keys.iter().map(|key| (*key).to_owned()).collect()))
            .collect();
        (mode.to_owned(), KeyOverride::Mode(table))
    }

    #[test]
    fn every_mode_has_its_own_bindings() {
        let keymap = Keymap::default();
        let plain = |character| press(KeyCode::Char(character), KeyModifiers::NONE);
        assert_eq!(keymap.command_for(KeyMode::Help, &plain('j')), Some(Command::HelpScrollDown));
        assert_eq!(keymap.command_for(KeyMode::Help, &plain('q')), Some(Command::HelpClose));
        assert_eq!(keymap.command_for(KeyMode::Popup, &plain('v')), Some(Command::PopupReveal));
        assert_eq!(keymap.command_for(KeyMode::Popup, &plain('c')), Some(Command::PopupCopy));
        assert_eq!(
            keymap.command_for(KeyMode::Mint, &press(KeyCode::Up, KeyModifiers::NONE)),
            Some(Command::MintPrevField)
        );
        assert_eq!(
            keymap.command_for(KeyMode::Filter, &press(KeyCode::Esc, KeyModifiers::NONE)),
            Some(Command::FilterClear)
        );
        // A key means one thing per mode: j types a j into the filter.
        assert_eq!(keymap.command_for(KeyMode::Filter, &plain('j')), None);
        assert_eq!(keymap.command_for(KeyMode::Browse, &plain('v')), None);
        for mode in KeyMode::ALL {
            assert!(!keymap.help_lines(mode).is_empty(), "{mode:?} lists its keys in ?");
        }
    }

    #[test]
    fn the_default_table_names_every_command_once_per_mode() {
        let bindings = default_bindings();
        for (i, binding) in bindings.iter().enumerate() {
            assert!(!binding.keys.is_empty() && !binding.description.is_empty(), "{}", binding.name);
            assert_eq!(Command::from_name(binding.mode, binding.name), Some(binding.command));
            assert!(bindings[i + 1..].iter().all(|other| other.command != binding.command));
        }
        for mode in KeyMode::ALL {
            assert!(bindings.iter().any(|binding| binding.mode == mode), "{mode:?} has bindings");
        }
    }

    #[test]
    fn mode_tables_rebind_and_are_checked_per_mode() {
        let overrides = KeyOverrides::from([
            mode_table("popup", &[("reveal", &["r"]), ("copy", &["ctrl-y"])]),
            mode_table("help", &[("scroll_down", &["n"])]),
            // The same key as a browsing command: no conflict, another mode.
            ("refresh".to_owned(), vec!["n".to_owned()].into()),
        ]);
        let keymap = Keymap::new(&overrides, false).unwrap();
        assert_eq!(
            keymap.command_for(KeyMode::Popup, &press(KeyCode::Char('r'), KeyModifiers::NONE)),
            Some(Command::PopupReveal)
        );
        assert_eq!(keymap.command_for(KeyMode::Popup, &press(KeyCode::Char('v'), KeyModifiers::NONE)), None);
        assert_eq!(keymap.command_for(KeyMode::Popup, &press(KeyCode::Char('y'), KeyModifiers::NONE)), None);
        assert_eq!(
            keymap.command_for(KeyMode::Help, &press(KeyCode::Char('n'), KeyModifiers::NONE)),
            Some(Command::HelpScrollDown)
        );
        assert_eq!(keymap.first_key(Command::PopupCopy), "ctrl-y");

        let overrides = KeyOverrides::from([
            mode_table("popup", &[("reveal", &["esc"]), ("close", &[])]),
            mode_table("filter", &[("apply", &["a"]), ("zoom", &["z"])]),
            mode_table("sidebar", &[("open", &["s"])]),
            ("refresh".to_owned(), vec!["r".to_owned()].into()),
            mode_table("browse", &[("refresh", &["R"])]),
        ]);
        let error = Keymap::new(&overrides, false).unwrap_err();
        assert!(error.contains("[keys.popup] close: needs a key, it is the way out of its mode"), "{error}");
        assert!(error.contains("[keys.filter] apply: a would no longer type itself"), "{error}");
        assert!(error.contains("[keys.filter] zoom: unknown action; known actions: apply, clear"), "{error}");
        assert!(error.contains("[keys.sidebar]: unknown mode"), "{error}");
        assert!(error.contains("refresh: given both in [keys] and in [keys.browse]"), "{error}");
        let overrides = KeyOverrides::from([mode_table("popup", &[("reveal", &["esc"])])]);
        let error = Keymap::new(&overrides, false).unwrap_err();
        assert!(error.contains("[keys.popup] key esc is bound to both reveal and close"), "{error}");
    }

    #[test]
    fn config_toml_keys_and_mode_tables_build_the_keymap() {
        let config: crate::config::Config = toml::from_str(
            r#"
[keys]
quit = ["ctrl-q"]
[keys.popup]
copy = ["y"]
"#,
        )
        .unwrap();
        let keymap = Keymap::new(&config.keys, false).unwrap();
        assert_eq!(
            keymap.command_for(KeyMode::Browse, &press(KeyCode::Char('q'), KeyModifiers::CONTROL)),
            Some(Command::Quit)
        );
        assert_eq!(keymap.command_for(KeyMode::Popup, &press(KeyCode::Char('c'), KeyModifiers::NONE)), None);
        let error = toml::from_str::<crate::config::Config>("[keys]\nquit = \"q\"\n").unwrap_err().to_string();
        assert!(error.contains("a list of keys"), "{error}");
    }

    #[test]
    fn read_only_drops_the_mint_form_with_its_command() {
        let keymap = Keymap::new(&KeyOverrides::new(), true).unwrap();
        assert!(keymap.help_lines(KeyMode::Mint).is_empty());
        assert!(!keymap.help_lines(KeyMode::Popup).is_empty(), "a URL popup still opens");
    }
}
