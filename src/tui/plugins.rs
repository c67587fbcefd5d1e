//! User commands (`[[plugins]]` in config.toml) run on the selection from a browsing key.
//!
//! A plugin's command is an argument vector: placeholders are replaced inside each argument,
//! so a remote string (a connection id, an error code) is always one argument and never code;
//! no shell is involved unless the user names one as the program. The secret key is never a
//! placeholder. Plugins are checked at start-up, every problem reported at once, and read-only
//! mode drops every plugin not marked `safe`.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::key::Key;
use super::keymap::{KeyMode, Keymap};
use crate::config::PluginConfig;

/// Where a plugin applies: the kind of row selected in the focused pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginScope {
    Context,
    Connector,
    Connection,
}

impl PluginScope {
    const ALL: [PluginScope; 3] = [PluginScope::Context, PluginScope::Connector, PluginScope::Connection];

    pub fn name(self) -> &'static str {
        match self {
            PluginScope::Context => "context",
            PluginScope::Connector => "connector",
            PluginScope::Connection => "connection",
        }
    }

    /// The placeholders a selection of this kind can fill.
    fn placeholders(self) -> &'static [&'static str] {
        match self {
            PluginScope::Context => &["context", "api_url"],
            PluginScope::Connector => &["connector", "api_url"],
            PluginScope::Connection => &["context", "connector", "connection_id", "status", "error_code", "api_url"],
        }
    }
}

/// Every placeholder a plugin may use.
const PLACEHOLDERS: [&str; 6] = ["context", "connector", "connection_id", "status", "error_code", "api_url"];

/// One checked plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plugin {
    pub name: String,
    pub key: Key,
    pub scopes: Vec<PluginScope>,
    pub command: Vec<String>,
    pub foreground: bool,
    pub confirm: bool,
}

/// The values of the selection a plugin runs on; `None` when the selection has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaceholderValues {
    pub context: Option<String>,
    pub connector: Option<String>,
    pub connection_id: Option<String>,
    pub status: Option<String>,
    pub error_code: Option<String>,
    pub api_url: Option<String>,
}

impl PlaceholderValues {
    fn get(&self, name: &str) -> Option<&str> {
        match name {
            "context" => self.context.as_deref(),
            "connector" => self.connector.as_deref(),
            "connection_id" => self.connection_id.as_deref(),
            "status" => self.status.as_deref(),
            "error_code" => self.error_code.as_deref(),
            "api_url" => self.api_url.as_deref(),
            _ => None,
        }
    }
}

/// The live plugins, after checking and read-only filtering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plugins {
    plugins: Vec<Plugin>,
}

impl Plugins {
    /// Checks every `[[plugins]]` entry against the browsing keymap; every problem (empty name
    /// or command, unparsable or taken key, unknown scope, unknown placeholder or one its scopes
    /// cannot fill, a placeholder in the program's name) is reported in one error.
    pub fn new(configs: &[PluginConfig], keymap: &Keymap, read_only: bool) -> Result<Self, String> {
        let mut problems = Vec::new();
        let mut plugins: Vec<Plugin> = Vec::new();
        for (index, config) in configs.iter().enumerate() {
            let label = if config.name.trim().is_empty() {
                problems.push(format!("[[plugins]] #{}: needs a name", index + 1));
                format!("[[plugins]] #{}", index + 1)
            } else {
                format!("plugin {:?}", config.name)
            };
            let mut check = |problem: String| problems.push(format!("{label}: {problem}"));
            let key = match Key::parse(&config.key) {
                Ok(key) if key == Key::new(KeyCode::Char('c'), KeyModifiers::CONTROL) => {
                    check("ctrl-c is reserved for quitting".to_owned());
                    None
                }
                Ok(key) => {
                    let event = KeyEvent::new(key.code, key.modifiers);
                    if let Some(command) = keymap.command_for(KeyMode::Browse, &event) {
                        check(format!("key {key} is already bound to {}; pick another or rebind it", command.name()));
                    }
                    Some(key)
                }
                Err(problem) => {
                    check(problem);
                    None
                }
            };
            let mut scopes = Vec::new();
            for name in &config.scopes {
                match PluginScope::ALL.into_iter().find(|scope| scope.name() == name) {
                    Some(scope) => scopes.push(scope),
                    None => check(format!("unknown scope {name:?}; known scopes: context, connector, connection")),
                }
            }
            if config.scopes.is_empty() {
                check("needs at least one scope (context, connector, connection)".to_owned());
            }
            match config.command.first() {
                None => check("needs a command, e.g. [\"program\", \"{connection_id}\"]".to_owned()),
                Some(program) if !placeholders_in(program).is_empty() => {
                    check("the program (the command's first element) cannot hold a placeholder".to_owned());
                }
                Some(_) => {}
            }
            for argument in &config.command {
                for name in placeholders_in(argument) {
                    if name == "secret_key" {
                        check("the secret key is never given to plugins".to_owned());
                    } else if !PLACEHOLDERS.contains(&name) {
                        check(format!("unknown placeholder {{{name}}}; known: {}", braced(&PLACEHOLDERS)));
                    } else {
                        for scope in scopes.iter().filter(|scope| !scope.placeholders().contains(&name)) {
                            check(format!("a {} has no {{{name}}}", scope.name()));
                        }
                    }
                }
            }
            if let Some(key) = key {
                let shared = plugins
                    .iter()
                    .find(|other| other.key == key && other.scopes.iter().any(|scope| scopes.contains(scope)));
                if let Some(other) = shared {
                    check(format!("key {key} is also plugin {:?}'s in the same scope", other.name));
                }
                if !read_only || config.safe {
                    plugins.push(Plugin {
                        name: config.name.clone(),
                        key,
                        scopes,
                        command: config.command.clone(),
                        foreground: config.foreground,
                        confirm: config.confirm,
                    });
                }
            }
        }
        if problems.is_empty() { Ok(Self { plugins }) } else { Err(problems.join("\n")) }
    }

    pub fn all(&self) -> &[Plugin] {
        &self.plugins
    }

    /// The plugin a key runs on a selection of kind `scope`.
    pub fn for_key(&self, event: &KeyEvent, scope: PluginScope) -> Option<&Plugin> {
        let key = Key::from_event(event);
        self.plugins.iter().find(|plugin| plugin.key == key && plugin.scopes.contains(&scope))
    }
}

impl Plugin {
    /// The argument vector with every placeholder replaced, or the name of the first
    /// placeholder the selection cannot fill.
    pub fn argv(&self, values: &PlaceholderValues) -> Result<Vec<String>, String> {
        self.command
            .iter()
            .map(|argument| {
                let mut expanded = argument.clone();
                for name in placeholders_in(argument) {
                    let value = values.get(name).ok_or_else(|| name.to_owned())?;
                    expanded = expanded.replace(&format!("{{{name}}}"), value);
                }
                Ok(expanded)
            })
            .collect()
    }

    /// The scopes as `?` lists them: `connection, context`.
    pub fn scope_names(&self) -> String {
        self.scopes.iter().map(|scope| scope.name()).collect::<Vec<_>>().join(", ")
    }
}

/// The `{name}` placeholders in one argument.
fn placeholders_in(argument: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = argument;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            names.push(name);
        }
        rest = &after[end + 1..];
    }
    names
}

fn braced(names: &[&str]) -> String {
    names.iter().map(|name| format!("{{{name}}}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(name: &str, key: &str, scopes: &[&str], command: &[&str]) -> PluginConfig {
        PluginConfig {
            name: name.to_owned(),
            key: key.to_owned(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            command: command.iter().map(|s| (*s).to_owned()).collect(),
            ..PluginConfig::default()
        }
    }

    #[test]
    fn every_plugin_problem_is_reported_at_once() {
        let configs = [
            plugin("taken", "j", &["connection"], &["echo"]),
            plugin("secret", "X", &["connection"], &["echo", "{secret_key}"]),
            plugin("scope", "Y", &["context", "pod"], &["echo", "{connection_id}"]),
            plugin("program", "Z", &["connection"], &["{connection_id}"]),
            plugin("", "W", &[], &[]),
            plugin("typo", "V", &["connection"], &["echo", "--id={conection_id}"]),
        ];
        let problems = Plugins::new(&configs, &Keymap::default(), false).unwrap_err();
        for expected in [
            "plugin \"taken\": key j is already bound to move_down",
            "plugin \"secret\": the secret key is never given to plugins",
            "plugin \"scope\": unknown scope \"pod\"",
            "plugin \"scope\": a context has no {connection_id}",
            "plugin \"program\": the program (the command's first element) cannot hold a placeholder",
            "[[plugins]] #5: needs a name",
            "[[plugins]] #5: needs at least one scope",
            "[[plugins]] #5: needs a command",
            "plugin \"typo\": unknown placeholder {conection_id}",
        ] {
            assert!(problems.contains(expected), "missing {expected:?} in:\n{problems}");
        }
    }

    #[test]
    fn read_only_keeps_only_safe_plugins() {
        let mut safe = plugin("view", "V", &["connection"], &["less", "{connection_id}"]);
        safe.safe = true;
        let unsafe_one = plugin("kick", "K", &["connection"], &["kick", "{connection_id}"]);
        let plugins =
            Plugins::new(&[safe, unsafe_one], &Keymap::new(&Default::default(), true).unwrap(), true).unwrap();
        let names: Vec<&str> = plugins.all().iter().map(|plugin| plugin.name.as_str()).collect();
        assert_eq!(names, ["view"]);
    }

    #[test]
    fn placeholders_fill_one_argument_each_and_never_split() {
        let config = plugin("log", "L", &["connection"], &["printf", "%s\\n", "{connection_id}", "code={error_code}"]);
        let plugins = Plugins::new(&[config], &Keymap::default(), false).unwrap();
        let values = PlaceholderValues {
            connection_id: Some("id with spaces; rm -rf ~".to_owned()),
            error_code: Some("$(boom)".to_owned()),
            ..PlaceholderValues::default()
        };
        let argv = plugins.all()[0].argv(&values).unwrap();
        assert_eq!(argv, ["printf", "%s\\n", "id with spaces; rm -rf ~", "code=$(boom)"]);
        assert_eq!(plugins.all()[0].argv(&PlaceholderValues::default()), Err("connection_id".to_owned()));
    }
}
