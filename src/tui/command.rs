//! The `:` command line: the commands, parsing a typed line, and tab completion. Pure: the
//! reducer (`update/command.rs`) runs what [`parse`] returns, and gives [`complete`] the
//! candidates of the moment (ids, slugs, profiles, columns).

use tui_input::Input;

/// One command as `?` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    pub name: &'static str,
    pub args: &'static str,
    pub description: &'static str,
}

const fn spec(name: &'static str, args: &'static str, description: &'static str) -> CommandSpec {
    CommandSpec { name, args, description }
}

/// Every command, in the order `?` lists them and tab offers them.
pub const COMMANDS: &[CommandSpec] = &[
    spec("contexts", "", "focus the contexts list"),
    spec("connectors", "", "focus the connectors list"),
    spec("connections", "", "focus the connections list"),
    spec("triage", "", "every connection that needs attention"),
    spec("context", "<id>", "jump to a context and list its connections"),
    spec("connector", "<slug>", "jump to a connector and list its connections"),
    spec("profile", "<name>", "switch to a profile of config.toml, or demo"),
    spec("filter", "<expr>", "filter the focused list (nothing clears it)"),
    spec("sort", "<column> [asc|desc]", "sort the focused list by a column"),
    spec("refresh", "", "reload everything now"),
    spec("help", "", "show every key and command"),
    spec("q", "", "quit (also :quit)"),
];

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Contexts,
    Connectors,
    Connections,
    Triage,
    Context(String),
    Connector(String),
    /// `None` lists the profiles.
    Profile(Option<String>),
    Filter(String),
    /// The column's name and the direction, if given (`Some(true)` is descending).
    Sort {
        column: String,
        descending: Option<bool>,
    },
    Refresh,
    Help,
    Quit,
}

/// Parses a line typed after `:`; the error is a sentence for the status line.
pub fn parse(line: &str) -> Result<Parsed, String> {
    let line = line.trim();
    let (name, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let no_arguments = |parsed: Parsed| {
        if rest.is_empty() { Ok(parsed) } else { Err(format!(":{name} takes no arguments")) }
    };
    let one_argument = |what: &str| match words.as_slice() {
        [word] => Ok((*word).to_owned()),
        [] => Err(format!(":{name} needs {what}")),
        _ => Err(format!(":{name} takes one {what}")),
    };
    match name {
        "contexts" => no_arguments(Parsed::Contexts),
        "connectors" => no_arguments(Parsed::Connectors),
        "connections" => no_arguments(Parsed::Connections),
        "triage" => no_arguments(Parsed::Triage),
        "context" => one_argument("a context id").map(Parsed::Context),
        "connector" => one_argument("a connector slug").map(Parsed::Connector),
        "profile" if words.is_empty() => Ok(Parsed::Profile(None)),
        "profile" => one_argument("profile name").map(|name| Parsed::Profile(Some(name))),
        "filter" => Ok(Parsed::Filter(rest.to_owned())),
        "sort" => {
            let descending = match words.get(1).copied() {
                None => None,
                Some("asc") => Some(false),
                Some("desc") => Some(true),
                Some(other) => return Err(format!(":sort {}: the order is asc or desc, not {other}", words[0])),
            };
            match words.first() {
                Some(column) if words.len() <= 2 => Ok(Parsed::Sort { column: (*column).to_owned(), descending }),
                Some(_) => Err(":sort takes a column and an order, e.g. :sort errors desc".to_owned()),
                None => Err(":sort needs a column, e.g. :sort errors desc".to_owned()),
            }
        }
        "refresh" => no_arguments(Parsed::Refresh),
        "help" => no_arguments(Parsed::Help),
        "q" | "quit" => no_arguments(Parsed::Quit),
        "" => Err("type a command; :help lists them".to_owned()),
        _ => Err(format!("unknown command :{name}; :help lists them")),
    }
}

/// The word being completed: which word of the line (0 is the command) and the command.
pub struct Completing<'a> {
    pub command: &'a str,
    /// 0 for the command name, 1 for its first argument, ...
    pub position: usize,
    pub word: &'a str,
}

/// What the cursor is at the end of: the command being typed, or its `position`th argument.
pub fn completing(line: &str) -> Completing<'_> {
    let start = line.rfind(char::is_whitespace).map_or(0, |space| space + 1);
    let command = line.split_whitespace().next().unwrap_or("");
    let position = line[..start].split_whitespace().count();
    Completing { command, position, word: &line[start..] }
}

/// Tab completion in progress: the candidates shown, and the one in the line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Completion {
    /// The line before the word being completed.
    pub before: String,
    pub candidates: Vec<String>,
    pub chosen: usize,
}

/// Candidates shown at most: ids and slugs may number 100,000.
pub const MAX_CANDIDATES: usize = 50;

/// The `:` prompt: the line being typed, the completion shown under it, and where up/down
/// are in the history.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    pub input: Input,
    pub completion: Option<Completion>,
    /// The history entry shown (an index into it), or `None` for the line being typed.
    pub history: Option<usize>,
    /// The line being typed, kept while up/down show older ones.
    pub draft: String,
}

impl CommandLine {
    /// Completes the word at the end of the line from `candidates` (already narrowed to the
    /// word's prefix): the first goes in at once; the next tab cycles, `back` goes backwards.
    pub fn complete(&mut self, candidates: impl FnOnce(&Completing) -> Vec<String>, back: bool) {
        if let Some(completion) = &mut self.completion
            && !completion.candidates.is_empty()
            && self.input.value() == format!("{}{}", completion.before, completion.candidates[completion.chosen])
        {
            let count = completion.candidates.len();
            completion.chosen =
                if back { (completion.chosen + count - 1) % count } else { (completion.chosen + 1) % count };
            let line = format!("{}{}", completion.before, completion.candidates[completion.chosen]);
            self.input = Input::new(line);
            return;
        }
        let line = self.input.value().to_owned();
        let target = completing(&line);
        let candidates = candidates(&target);
        let before = line[..line.len() - target.word.len()].to_owned();
        if let Some(first) = candidates.first() {
            self.input = Input::new(format!("{before}{first}"));
        }
        self.completion = Some(Completion { before, candidates, chosen: 0 });
    }

    /// Up (`older`) or down through the history, keeping the typed line to come back to.
    pub fn browse_history(&mut self, history: &[String], older: bool) {
        let next = match (self.history, older) {
            (None, true) => history.len().checked_sub(1),
            (None, false) => return,
            (Some(at), true) => Some(at.saturating_sub(1)),
            (Some(at), false) => (at + 1 < history.len()).then_some(at + 1),
        };
        if self.history.is_none() {
            self.draft = self.input.value().to_owned();
        }
        self.history = next;
        let line = next.map_or_else(|| self.draft.clone(), |at| history[at].clone());
        self.input = Input::new(line);
        self.completion = None;
    }
}

/// The names starting with `word`, in the order given, at most [`MAX_CANDIDATES`].
pub fn starting_with<'a>(names: impl IntoIterator<Item = &'a str>, word: &str) -> Vec<String> {
    names.into_iter().filter(|name| name.starts_with(word)).take(MAX_CANDIDATES).map(str::to_owned).collect()
}

/// Remembers a run line, oldest first, without repeating the last one, keeping the newest
/// [`MAX_HISTORY`].
pub fn remember(history: &mut Vec<String>, line: &str) {
    if history.last().is_some_and(|last| last == line) {
        return;
    }
    history.push(line.to_owned());
    let excess = history.len().saturating_sub(MAX_HISTORY);
    history.drain(..excess);
}

/// Commands kept in the history file.
pub const MAX_HISTORY: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_command_and_rejects_bad_arguments() {
        assert_eq!(parse("connectors"), Ok(Parsed::Connectors));
        assert_eq!(parse(" context  org_acme "), Ok(Parsed::Context("org_acme".into())));
        assert_eq!(parse("sort errors desc"), Ok(Parsed::Sort { column: "errors".into(), descending: Some(true) }));
        assert_eq!(parse("sort name"), Ok(Parsed::Sort { column: "name".into(), descending: None }));
        assert_eq!(parse("filter status:error slack"), Ok(Parsed::Filter("status:error slack".into())));
        assert_eq!(parse("profile"), Ok(Parsed::Profile(None)));
        assert_eq!(parse("quit"), Ok(Parsed::Quit));
        assert!(parse("bogus").unwrap_err().contains("unknown command :bogus"));
        assert!(parse("context").unwrap_err().contains("needs a context id"));
        assert!(parse("context a b").is_err());
        assert!(parse("refresh now").unwrap_err().contains("takes no arguments"));
        assert!(parse("sort name sideways").unwrap_err().contains("asc or desc"));
        assert!(parse("").is_err());
    }

    #[test]
    fn tab_fills_the_first_candidate_then_cycles() {
        let mut line = CommandLine { input: Input::new("co".into()), ..Default::default() };
        let names = |target: &Completing| starting_with(COMMANDS.iter().map(|spec| spec.name), target.word);
        line.complete(names, false);
        assert_eq!(line.input.value(), "contexts");
        let completion = line.completion.clone().unwrap();
        assert_eq!(completion.candidates, ["contexts", "connectors", "connections", "context", "connector"]);
        line.complete(names, false);
        assert_eq!(line.input.value(), "connectors");
        line.complete(names, true);
        assert_eq!(line.input.value(), "contexts");
        let mut line = CommandLine { input: Input::new("sort e".into()), ..Default::default() };
        line.complete(
            |target| {
                assert_eq!((target.command, target.position, target.word), ("sort", 1, "e"));
                starting_with(["health", "errors"], target.word)
            },
            false,
        );
        assert_eq!(line.input.value(), "sort errors");
    }

    #[test]
    fn history_goes_back_and_returns_to_the_draft() {
        let history = vec!["contexts".to_owned(), "sort name".to_owned()];
        let mut line = CommandLine { input: Input::new("tri".into()), ..Default::default() };
        line.browse_history(&history, true);
        assert_eq!(line.input.value(), "sort name");
        line.browse_history(&history, true);
        line.browse_history(&history, true);
        assert_eq!(line.input.value(), "contexts");
        line.browse_history(&history, false);
        line.browse_history(&history, false);
        assert_eq!(line.input.value(), "tri");
        let mut kept = Vec::new();
        for n in 0..150 {
            remember(&mut kept, &format!("context {n}"));
            remember(&mut kept, &format!("context {n}"));
        }
        assert_eq!(kept.len(), MAX_HISTORY);
        assert_eq!(kept.last().unwrap(), "context 149");
    }
}
