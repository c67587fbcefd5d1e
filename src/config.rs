//! Paths, profiles and target flags.
//!
//! Precedence for the target: command-line flags, then the environment
//! (`XKIT_API_URL`, `XKIT_PUBLISHABLE_KEY`, `XKIT_SECRET_KEY`), then the `--profile` or default
//! profile of `config.toml`, and when nothing is configured, the embedded demo platform.
//!
//! `config.toml` looks like this (every key optional):
//!
//! ```toml
//! default_profile = "prod"
//!
//! [profiles.prod]
//! api_url = "https://app.xkit.co"
//! catalog_url = "https://acme.xkit.co"
//! publishable_key = "pk_live_..."
//! secret_command = "pass show xkit/prod"   # or: secret_key = "sk_..." (file must be 0600)
//! secret_command_timeout = "10s"            # killed after this long (default 10s)
//! read_only = true
//! concurrency = 8
//! max_connections = 500000                  # scans stop past this many (default 100000)
//! refresh = "30s"
//! live_rescan = "5m"                        # rescans while events are followed (default 5m)
//! remote_threshold = 50000                  # from this many connections, panes read pages (default 10000)
//!
//! [keys]                                    # the dashboard's browsing keys
//! quit = ["q", "ctrl-q"]
//! open_repair = []                          # an empty list unbinds
//!
//! [keys.popup]                              # other modes: filter, help, mint, popup
//! copy = ["y", "c"]
//!
//! [theme]                                   # the dashboard's colours (see docs/dashboard.md)
//! skin = "light.toml"                       # a skin file, relative to the config directory
//! error = "red bold"
//!
//! [[plugins]]                               # a command on the selection, from a key
//! name = "logs"
//! key = "L"
//! scopes = ["connection"]                   # context, connector, connection
//! command = ["xkit-logs", "--connection", "{connection_id}"]
//! foreground = true                         # suspend the dashboard while it runs
//! confirm = false
//! safe = false                              # true: also offered in read-only mode
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// How long a profile's `secret_command` may run unless `secret_command_timeout` says otherwise:
/// a password manager that waits for an unlock prompt nobody sees must not hang a cron job.
const DEFAULT_SECRET_COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// Flags shared by the dashboard and every headless command.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TargetArgs {
    /// Platform API URL: the server root or its `/api/platform` base.
    #[arg(long, global = true, env = "XKIT_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// Profile of config.toml to use instead of the default one.
    #[arg(long, global = true, env = "XKIT_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// Refuse every mutating action (token minting, repair links, refreshes).
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Give up on one try of a request after DURATION, e.g. 5s (default 20s). Reads are tried
    /// up to 3 times (after a timeout, a refused connection, 429, 502, 503 or 504), waiting
    /// 0.4 s then 0.8 s between tries (or the server's Retry-After, at most 5 s): one read
    /// takes at most 3 x DURATION + 10 s, a write (token mint, refresh) at most DURATION. A
    /// command or dashboard scan makes one such request per page.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_request_timeout)]
    pub request_timeout: Option<Duration>,
}

impl TargetArgs {
    /// The HTTP settings these flags ask for.
    pub fn client_options(&self) -> crate::client::ClientOptions {
        let mut options = crate::client::ClientOptions::default();
        if let Some(timeout) = self.request_timeout {
            options.request_timeout = timeout;
        }
        options
    }
}

fn parse_request_timeout(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|error| error.to_string())?;
    if duration.is_zero() {
        return Err("the request timeout must be longer than 0s".to_owned());
    }
    Ok(duration)
}

/// Every place xkit-dash reads or writes, from `directories` unless overridden.
///
/// `XKIT_DASH_CONFIG_DIR`, `XKIT_DASH_DATA_DIR` and `XKIT_DASH_STATE_DIR` override each
/// directory (tests use them to stay out of the user's home).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub config_dir: PathBuf,
    pub data_dir: PathBuf,
    pub state_dir: PathBuf,
}

impl Paths {
    pub fn discover() -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "xkit-dash");
        let pick = |variable: &str, default: Option<PathBuf>| -> Result<PathBuf> {
            match std::env::var_os(variable).filter(|value| !value.is_empty()) {
                Some(value) => Ok(PathBuf::from(value)),
                None => default.with_context(|| {
                    format!("cannot find a home directory; set {variable} to choose where xkit-dash keeps files")
                }),
            }
        };
        let config_dir = pick("XKIT_DASH_CONFIG_DIR", dirs.as_ref().map(|d| d.config_dir().to_path_buf()))?;
        let data_dir = pick("XKIT_DASH_DATA_DIR", dirs.as_ref().map(|d| d.data_dir().to_path_buf()))?;
        let state_dir = pick(
            "XKIT_DASH_STATE_DIR",
            dirs.as_ref().map(|d| d.state_dir().unwrap_or_else(|| d.data_local_dir()).to_path_buf()),
        )?;
        Ok(Self { config_dir, data_dir, state_dir })
    }

    pub fn config_file(&self) -> PathBuf {
        self.config_dir.join("config.toml")
    }

    /// Where the bundled server keeps its SQLite database and keys when run without
    /// `--data-dir`.
    pub fn server_data_dir(&self) -> PathBuf {
        self.data_dir.join("server")
    }

    /// The embedded demo platform's own data directory.
    pub fn embedded_data_dir(&self) -> PathBuf {
        self.data_dir.join("embedded-demo")
    }

    /// The dashboard's `:` command history.
    pub fn command_history_file(&self) -> PathBuf {
        self.state_dir.join("command_history")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }
}

/// A problem with the user's configuration (as opposed to the target or the network): the CLI
/// exits with code 3 for these.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The parsed `config.toml`. A missing file is an empty configuration.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The profile used when neither `--profile` nor `XKIT_PROFILE` names one.
    pub default_profile: Option<String>,
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// Dashboard key bindings, kept as raw strings: the dashboard parses and validates them.
    #[serde(default)]
    pub keys: KeyOverrides,
    /// The dashboard's colours: `slot = "style"`, plus `skin = "file"`; the dashboard validates
    /// them.
    #[serde(default)]
    pub theme: BTreeMap<String, String>,
    /// Commands the dashboard runs on the selection; the dashboard validates them.
    #[serde(default)]
    pub plugins: Vec<PluginConfig>,
    /// `mouse = false` leaves the mouse to the terminal (text selection) instead of the
    /// dashboard; `--no-mouse` does the same for one run.
    pub mouse: Option<bool>,
}

/// One `[[plugins]]` entry, as written; the dashboard checks it (keys, scopes, placeholders).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    pub name: String,
    pub key: String,
    /// Where it applies: `context`, `connector`, `connection`.
    pub scopes: Vec<String>,
    /// The program and its arguments, each argument one element: never run through a shell.
    pub command: Vec<String>,
    /// Suspend the dashboard and give the program the terminal (default: run in the background).
    #[serde(default)]
    pub foreground: bool,
    /// Ask before running.
    #[serde(default)]
    pub confirm: bool,
    /// Offered in read-only mode too.
    #[serde(default)]
    pub safe: bool,
}

/// The `[keys]` table: `action_name = ["key", ...]` rebinds a browsing action (an empty list
/// unbinds it), and a `[keys.MODE]` table does the same for the actions of another mode.
pub type KeyOverrides = BTreeMap<String, KeyOverride>;

/// One entry of `[keys]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged, expecting = "a list of keys such as [\"q\", \"ctrl-q\"], or a [keys.MODE] table of such lists")]
pub enum KeyOverride {
    /// `action = ["key", ...]`.
    Keys(Vec<String>),
    /// `[keys.MODE]`: `action = ["key", ...]` for the actions of that mode.
    Mode(BTreeMap<String, Vec<String>>),
}

impl From<Vec<String>> for KeyOverride {
    fn from(keys: Vec<String>) -> Self {
        Self::Keys(keys)
    }
}

/// One `[profiles.NAME]` table.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub api_url: Option<String>,
    /// Base of the catalog's repair pages; derived from the platform's slug when absent.
    pub catalog_url: Option<String>,
    pub publishable_key: Option<String>,
    /// The secret key itself; the file must then be readable by its owner only.
    pub secret_key: Option<SecretString>,
    /// A command printing the secret key on stdout (e.g. a password manager), run without a
    /// shell: the string is split into words like a shell would, but nothing is expanded.
    pub secret_command: Option<String>,
    /// How long `secret_command` may run before it is killed (humantime, default 10s).
    #[serde(default, deserialize_with = "humantime_opt")]
    pub secret_command_timeout: Option<Duration>,
    #[serde(default)]
    pub read_only: bool,
    /// How many requests the dashboard and the fallback scan run at once.
    pub concurrency: Option<usize>,
    /// The most connections (and contexts) a scan takes from the server: the dashboard's and
    /// `check`'s memory bound (default 100000).
    pub max_connections: Option<usize>,
    /// How often the dashboard refreshes, as a humantime string (`30s`, `5m`).
    #[serde(default, deserialize_with = "humantime_opt")]
    pub refresh: Option<Duration>,
    /// How often the dashboard rescans while it follows the server's events (default 5m).
    #[serde(default, deserialize_with = "humantime_opt")]
    pub live_rescan: Option<Duration>,
    /// From this many connections, on a server that keeps totals, the dashboard's panes read
    /// the pages they show instead of loading the platform (default 10000; 0: always).
    pub remote_threshold: Option<u64>,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("api_url", &self.api_url)
            .field("catalog_url", &self.catalog_url)
            .field("publishable_key", &self.publishable_key)
            .field("secret_key", &self.secret_key.as_ref().map(|_| "[redacted]"))
            .field("secret_command", &self.secret_command)
            .field("secret_command_timeout", &self.secret_command_timeout)
            .field("read_only", &self.read_only)
            .field("concurrency", &self.concurrency)
            .field("max_connections", &self.max_connections)
            .field("refresh", &self.refresh)
            .field("live_rescan", &self.live_rescan)
            .field("remote_threshold", &self.remote_threshold)
            .finish()
    }
}

fn humantime_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map(Some).map_err(|error| {
        serde::de::Error::custom(format!("invalid duration {text:?} ({error}); try \"30s\" or \"5m\""))
    })
}

impl Config {
    /// Reads `config.toml` from the config directory; a missing file is an empty config.
    pub fn load(paths: &Paths) -> Result<Config> {
        Self::load_file(&paths.config_file())
    }

    /// Reads one config file, refusing a file that holds a secret and is readable by others.
    pub fn load_file(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(error) => {
                return Err(ConfigError(format!("cannot read config file {}: {error}", path.display())).into());
            }
        };
        let config = Self::parse(&text, path)?;
        if config.profiles.values().any(|profile| profile.secret_key.is_some()) {
            refuse_if_shared(path)?;
        }
        Ok(config)
    }

    /// Parses config text; errors name the file, the line and the key.
    pub fn parse(text: &str, path: &Path) -> Result<Config> {
        let describe = |line: Option<usize>, key: &str, message: &str| {
            let at = line.map(|line| format!(", line {line}")).unwrap_or_default();
            let key = if key.is_empty() || key == "." { String::new() } else { format!(", key `{key}`") };
            ConfigError(format!("invalid config file {}{at}{key}: {message}", path.display()))
        };
        let deserializer = toml::Deserializer::parse(text)
            .map_err(|error| describe(line_of(text, error.span()), "", error.message().trim()))?;
        let config: Config = serde_path_to_error::deserialize(deserializer).map_err(|error| {
            let key = error.path().to_string();
            let inner = error.into_inner();
            describe(line_of(text, inner.span()), &key, inner.message().trim())
        })?;
        config.validate().map_err(|(key, message)| describe(None, &key, &message))?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), (String, String)> {
        if let Some(name) = &self.default_profile
            && !self.profiles.contains_key(name)
        {
            return Err(("default_profile".into(), format!("no [profiles.{name}] table")));
        }
        for (name, profile) in &self.profiles {
            let key = |field: &str| format!("profiles.{name}.{field}");
            if profile.secret_key.is_some() && profile.secret_command.is_some() {
                return Err((key("secret_command"), "set either secret_key or secret_command, not both".into()));
            }
            if let Some(command) = &profile.secret_command {
                split_command(command).map_err(|message| (key("secret_command"), message))?;
            }
            if profile.secret_command_timeout.is_some_and(|timeout| timeout.is_zero()) {
                return Err((key("secret_command_timeout"), "must be longer than 0s".into()));
            }
            if profile.concurrency == Some(0) {
                return Err((key("concurrency"), "must be at least 1".into()));
            }
            if profile.max_connections == Some(0) {
                return Err((key("max_connections"), "must be at least 1".into()));
            }
            // A platform between the two would be loaded whole and stop at max_connections.
            if let (Some(threshold), Some(max)) = (profile.remote_threshold, profile.max_connections)
                && threshold > max as u64
            {
                let message =
                    format!("must not exceed max_connections ({max}): a larger platform cannot be loaded whole");
                return Err((key("remote_threshold"), message));
            }
            if let Some(url) = &profile.api_url {
                crate::client::platform_base(url).map_err(|error| (key("api_url"), error.to_string()))?;
            }
        }
        Ok(())
    }

    /// The profile to use: the named one (which must exist), else the default one, else none.
    pub fn select_profile<'a>(&'a self, name: Option<&'a str>) -> Result<Option<(&'a str, &'a Profile)>> {
        match name.or(self.default_profile.as_deref()) {
            None => Ok(None),
            Some(name) => match self.profiles.get_key_value(name) {
                Some((name, profile)) => Ok(Some((name.as_str(), profile))),
                None => {
                    let known: Vec<&str> = self.profiles.keys().map(String::as_str).collect();
                    let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
                    Err(ConfigError(format!("no profile named {name:?} in config.toml (profiles: {known})")).into())
                }
            },
        }
    }
}

impl Profile {
    /// The secret key from the file or from `secret_command`, if the profile has one.
    pub async fn resolve_secret(&self, profile_name: &str) -> Result<Option<SecretString>> {
        if let Some(secret) = &self.secret_key {
            return Ok(Some(secret.clone()));
        }
        let Some(command) = &self.secret_command else { return Ok(None) };
        let argv = split_command(command).map_err(ConfigError)?;
        let program = &argv[0];
        let cannot_run =
            |error| ConfigError(format!("profile {profile_name:?}: cannot run secret_command {program:?}: {error}"));
        let child = tokio::process::Command::new(program)
            .args(&argv[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            // Dropping the child on timeout kills it (SIGKILL) and tokio reaps it.
            .kill_on_drop(true)
            .spawn()
            .map_err(cannot_run)?;
        let limit = self.secret_command_timeout.unwrap_or(DEFAULT_SECRET_COMMAND_TIMEOUT);
        let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(output) => output.map_err(cannot_run)?,
            Err(_) => {
                return Err(ConfigError(format!(
                    "profile {profile_name:?}: secret_command {program:?} did not finish within {}; it was \
                     killed (raise secret_command_timeout in the profile if it needs longer)",
                    humantime::format_duration(limit)
                ))
                .into());
            }
        };
        if !output.status.success() {
            return Err(ConfigError(format!(
                "profile {profile_name:?}: secret_command {program:?} failed ({})",
                output.status
            ))
            .into());
        }
        let secret = String::from_utf8(output.stdout).map_err(|_| {
            ConfigError(format!("profile {profile_name:?}: secret_command {program:?} printed non-UTF-8"))
        })?;
        let secret = secret.trim();
        if secret.is_empty() {
            bail!(ConfigError(format!("profile {profile_name:?}: secret_command {program:?} printed nothing")));
        }
        Ok(Some(SecretString::from(secret.to_owned())))
    }
}

/// Splits a `secret_command` into argv without involving a shell.
fn split_command(command: &str) -> Result<Vec<String>, String> {
    let argv = shell_words::split(command).map_err(|error| format!("cannot split the command: {error}"))?;
    if argv.is_empty() {
        return Err("the command is empty".into());
    }
    Ok(argv)
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, span: Option<std::ops::Range<usize>>) -> Option<usize> {
    let start = span?.start.min(text.len());
    Some(text.as_bytes()[..start].iter().filter(|byte| **byte == b'\n').count() + 1)
}

/// Refuses a secret-holding file that group or others can read.
#[cfg(unix)]
fn refuse_if_shared(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path)
        .map_err(|error| ConfigError(format!("cannot read config file {}: {error}", path.display())))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        bail!(ConfigError(format!(
            "config file {path} holds a secret_key but is readable by others (mode {mode:03o}); \
             run `chmod 600 {path}` or move the secret to secret_command or XKIT_SECRET_KEY",
            path = path.display(),
            mode = mode & 0o777
        )));
    }
    Ok(())
}

#[cfg(not(unix))]
fn refuse_if_shared(_path: &Path) -> Result<()> {
    Ok(())
}

/// Writes a file readable by its owner only (0600 from creation, so there is no window where
/// the secret is readable by others), replacing it atomically.
pub fn write_private_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let dir = path.parent().context("config path has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temporary = path.with_extension("toml.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        options.mode(0o600);
        // An older temporary file keeps its mode when reopened: tighten it explicitly.
        if temporary.exists() {
            std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let mut file = options.open(&temporary).with_context(|| format!("cannot write {}", temporary.display()))?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temporary, path).with_context(|| format!("cannot replace {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_and_theme_are_read_as_written_and_unknown_plugin_fields_are_refused() {
        let text = r#"
[theme]
skin = "light.toml"
error = "red bold"

[[plugins]]
name = "ticket"
key = "T"
scopes = ["connection"]
command = ["ticket", "--", "{connection_id}"]
confirm = true
"#;
        let config = Config::parse(text, Path::new("config.toml")).unwrap();
        assert_eq!(config.theme.get("skin").map(String::as_str), Some("light.toml"));
        assert_eq!(config.plugins.len(), 1);
        let plugin = &config.plugins[0];
        assert_eq!(plugin.command, ["ticket", "--", "{connection_id}"]);
        assert!(plugin.confirm && !plugin.foreground && !plugin.safe);

        let typo = "[[plugins]]\nname = \"x\"\nkey = \"X\"\nscopes = []\ncommand = [\"x\"]\nshell = true\n";
        let error = Config::parse(typo, Path::new("config.toml")).unwrap_err().to_string();
        assert!(error.contains("shell"), "{error}");
    }

    fn parse(text: &str) -> Result<Config> {
        Config::parse(text, Path::new("/etc/x/config.toml"))
    }

    #[test]
    fn full_profile_parses() {
        let config = parse(
            r#"
default_profile = "prod"
[profiles.prod]
api_url = "https://app.example"
publishable_key = "pk"
secret_command = "pass show 'xkit prod'"
read_only = true
concurrency = 4
refresh = "1m 30s"
live_rescan = "10m"
remote_threshold = 0
[keys]
quit = ["q", "ctrl-c"]
open_repair = []
"#,
        )
        .unwrap();
        let (name, profile) = config.select_profile(None).unwrap().unwrap();
        assert_eq!(name, "prod");
        assert_eq!(profile.refresh, Some(Duration::from_secs(90)));
        assert_eq!(profile.live_rescan, Some(Duration::from_secs(600)));
        assert_eq!(profile.concurrency, Some(4));
        assert_eq!(profile.remote_threshold, Some(0), "0: always remote-backed");
        assert!(profile.read_only);
        assert_eq!(config.keys["open_repair"], KeyOverride::Keys(Vec::new()));
        assert_eq!(split_command(profile.secret_command.as_deref().unwrap()).unwrap(), ["pass", "show", "xkit prod"]);
    }

    #[test]
    fn the_mouse_can_be_left_to_the_terminal() {
        assert_eq!(parse("mouse = false\n").unwrap().mouse, Some(false));
        assert_eq!(parse("").unwrap().mouse, None, "on unless said otherwise");
        assert!(parse("mouse = \"off\"\n").unwrap_err().to_string().contains("mouse"));
    }

    #[test]
    fn unknown_key_is_named_with_file_and_line() {
        let error = parse("[profiles.prod]\napi_url = \"http://x.example\"\nsecret_kye = \"oops\"\n").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("/etc/x/config.toml"), "{message}");
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains("secret_kye"), "{message}");
        assert!(!message.contains("oops"), "a mistyped secret must not be echoed: {message}");
    }

    #[test]
    fn wrong_type_names_the_key_path() {
        let message = parse("[profiles.prod]\n\nconcurrency = \"many\"\n").unwrap_err().to_string();
        assert!(message.contains("line 3") && message.contains("profiles.prod.concurrency"), "{message}");
        let message = parse("[profiles.a]\nrefresh = \"soon\"\n").unwrap_err().to_string();
        assert!(message.contains("line 2") && message.contains("profiles.a.refresh"), "{message}");
    }

    #[test]
    fn an_invalid_remote_threshold_names_the_key() {
        let message = parse("[profiles.big]\nremote_threshold = -1\n").unwrap_err().to_string();
        assert!(message.contains("line 2") && message.contains("profiles.big.remote_threshold"), "{message}");
        let message = parse("[profiles.big]\nremote_threshold = \"10k\"\n").unwrap_err().to_string();
        assert!(message.contains("profiles.big.remote_threshold"), "{message}");
        let message =
            parse("[profiles.big]\nmax_connections = 5000\nremote_threshold = 20000\n").unwrap_err().to_string();
        assert!(message.contains("profiles.big.remote_threshold") && message.contains("5000"), "{message}");
        let config = parse("[profiles.big]\nmax_connections = 50000\nremote_threshold = 20000\n").unwrap();
        assert_eq!(config.profiles["big"].remote_threshold, Some(20_000));
    }

    #[test]
    fn syntax_errors_give_the_line() {
        let message = parse("default_profile = \"a\"\n[profiles.a\n").unwrap_err().to_string();
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn missing_profiles_are_reported() {
        let message = parse("default_profile = \"nope\"\n").unwrap_err().to_string();
        assert!(message.contains("default_profile") && message.contains("nope"), "{message}");
        let config = parse("[profiles.a]\n").unwrap();
        assert!(config.select_profile(Some("b")).unwrap_err().to_string().contains("profiles: a"));
        assert!(config.select_profile(None).unwrap().is_none());
    }

    #[test]
    fn secret_is_redacted_in_debug() {
        let config = parse("[profiles.a]\nsecret_key = \"sk_very_secret\"\n").unwrap();
        assert!(!format!("{config:?}").contains("sk_very_secret"));
    }

    #[cfg(unix)]
    #[test]
    fn shared_secret_file_is_refused_and_private_one_accepted() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        write_private_file(&path, "[profiles.a]\nsecret_key = \"sk\"\n").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        Config::load_file(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let message = Config::load_file(&path).unwrap_err().to_string();
        assert!(message.contains("chmod 600") && message.contains("config.toml"), "{message}");
        // Without a secret in it, a readable file is fine.
        std::fs::write(&path, "[profiles.a]\napi_url = \"http://x.example\"\n").unwrap();
        Config::load_file(&path).unwrap();
    }

    #[test]
    fn missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load_file(&dir.path().join("config.toml")).unwrap();
        assert!(config.profiles.is_empty() && config.default_profile.is_none());
    }

    #[tokio::test]
    async fn secret_command_output_is_trimmed() {
        let profile = Profile { secret_command: Some("echo '  sk_from_cmd  '".into()), ..Default::default() };
        let secret = profile.resolve_secret("a").await.unwrap().unwrap();
        assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), "sk_from_cmd");
        let failing = Profile { secret_command: Some("false".into()), ..Default::default() };
        assert!(failing.resolve_secret("a").await.is_err());
    }

    #[tokio::test]
    async fn a_hanging_secret_command_is_stopped_at_its_timeout() {
        let hanging = Profile {
            secret_command: Some("sleep 120".into()),
            secret_command_timeout: Some(Duration::from_millis(300)),
            ..Default::default()
        };
        let started = std::time::Instant::now();
        let message = hanging.resolve_secret("prod").await.unwrap_err().to_string();
        assert!(started.elapsed() < Duration::from_secs(5), "waited {:?}", started.elapsed());
        assert!(
            message.contains("\"prod\"") && message.contains("\"sleep\"") && message.contains("300ms"),
            "{message}"
        );
        let message = parse("[profiles.a]\nsecret_command_timeout = \"0s\"\n").unwrap_err().to_string();
        assert!(message.contains("profiles.a.secret_command_timeout"), "{message}");
    }
}
