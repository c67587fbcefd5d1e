//! `config init|show|path` and `info`: where xkit-dash keeps things and what it is set to.

use std::io::{Read as _, Write as _};
use std::path::Path;

use anyhow::{Context as _, Result};
use serde::Serialize;
use toml::{Table, Value};

use super::exit::EXIT_OK;
use super::output;
use super::session::interactive;
use crate::config::{self, Config, ConfigError, Paths, TargetArgs};

const MASK: &str = "********";

pub const INFO_EXAMPLES: &str = "\
Examples:
  xkit-dash info
  xkit-dash info --json | jq -r .log_dir";

const INIT_EXAMPLES: &str = "\
Examples:
  xkit-dash config init                       (on a terminal: asks for each value)
  xkit-dash config init --profile prod --api-url https://app.xkit.co \\
      --publishable-key pk_live_123 --secret-command 'pass show xkit/prod' --default
  printf %s \"$SK\" | xkit-dash config init --profile ci --api-url http://127.0.0.1:8080 \\
      --publishable-key pk_123 --secret-key-stdin --read-only

The file is written with mode 0600. Comments in an existing config.toml are not kept.";

const SHOW_EXAMPLES: &str = "\
Examples:
  xkit-dash config show
  xkit-dash --profile prod config show --json | jq .profiles.prod";

const PATH_EXAMPLES: &str = "\
Examples:
  xkit-dash config path
  $EDITOR \"$(xkit-dash config path)\"";

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ConfigCommand {
    /// Create or replace a profile in config.toml (prompts on a terminal, flags otherwise).
    ///
    /// The profile is named by --profile (default: "default"), its URL by --api-url, and
    /// --read-only marks it read-only.
    #[command(after_help = INIT_EXAMPLES)]
    Init(InitArgs),
    /// Print config.toml with secrets masked.
    #[command(after_help = SHOW_EXAMPLES)]
    Show {
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Print the path of config.toml.
    #[command(after_help = PATH_EXAMPLES)]
    Path,
}

#[derive(Debug, Clone, clap::Args)]
pub struct InitArgs {
    /// The publishable key (`pk_...`).
    #[arg(long, value_name = "KEY")]
    pub publishable_key: Option<String>,
    /// A command printing the secret key, run without a shell (e.g. `pass show xkit/prod`).
    #[arg(long, value_name = "COMMAND", conflicts_with = "secret_key_stdin")]
    pub secret_command: Option<String>,
    /// Read the secret key from stdin and store it in config.toml (written with mode 0600).
    #[arg(long)]
    pub secret_key_stdin: bool,
    /// Base URL of the catalog's repair pages (default: derived from the platform).
    #[arg(long, value_name = "URL")]
    pub catalog_url: Option<String>,
    /// Requests at once for scans and the dashboard.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Dashboard refresh interval (`30s`, `5m`).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_text)]
    pub refresh: Option<String>,
    /// Make this profile the default one.
    #[arg(long)]
    pub default: bool,
    /// Replace an existing profile of the same name.
    #[arg(long)]
    pub force: bool,
}

fn parse_duration_text(text: &str) -> Result<String, String> {
    humantime::parse_duration(text).map(|_| text.to_owned()).map_err(|error| error.to_string())
}

pub async fn run_config(command: ConfigCommand, target: &TargetArgs, paths: &Paths) -> Result<u8> {
    match command {
        ConfigCommand::Path => {
            println!("{}", paths.config_file().display());
            Ok(EXIT_OK)
        }
        ConfigCommand::Show { json } => show(paths, json),
        ConfigCommand::Init(args) => init(args, target, paths),
    }
}

fn show(paths: &Paths, json: bool) -> Result<u8> {
    let path = paths.config_file();
    // Validates the file (and its mode) first: `show` reports what xkit-dash would use.
    Config::load(paths)?;
    let mut table = read_table(&path)?;
    if let Some(Value::Table(profiles)) = table.get_mut("profiles") {
        for (_, profile) in profiles.iter_mut() {
            if let Value::Table(profile) = profile
                && profile.contains_key("secret_key")
            {
                profile.insert("secret_key".into(), Value::String(MASK.into()));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    if json {
        output::write_json_line(&mut out, &table)?;
    } else {
        let exists = if path.exists() { "" } else { " (missing: nothing configured)" };
        writeln!(out, "# {}{exists}", path.display())?;
        write!(out, "{}", toml::to_string_pretty(&table)?)?;
    }
    Ok(EXIT_OK)
}

/// The file as a raw table (empty when missing), so that rewriting it keeps every other key.
fn read_table(path: &Path) -> Result<Table> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.parse::<Table>().map_err(|error| ConfigError(format!("{}: {error}", path.display())))?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Table::new()),
        Err(error) => Err(ConfigError(format!("cannot read {}: {error}", path.display())).into()),
    }
}

/// Where the new profile's secret comes from.
enum SecretSource {
    Command(String),
    InFile(String),
    Environment,
}

fn init(args: InitArgs, target: &TargetArgs, paths: &Paths) -> Result<u8> {
    let path = paths.config_file();
    // Refuse to rewrite a file we cannot read correctly: the user would lose it.
    let existing = Config::load(paths)?;
    let mut table = read_table(&path)?;
    let prompts = interactive() && !args.secret_key_stdin;
    let name = target.profile.clone().unwrap_or_else(|| "default".to_owned());
    if existing.profiles.contains_key(&name) && !args.force {
        let replace = prompts
            && dialoguer::Confirm::new()
                .with_prompt(format!("Profile {name:?} exists in {}. Replace it?", path.display()))
                .default(false)
                .interact()?;
        if !replace {
            return Err(ConfigError(format!("profile {name:?} already exists; pass --force to replace it")).into());
        }
    }

    let api_url = match (&target.api_url, prompts) {
        (Some(url), _) => url.clone(),
        (None, true) => dialoguer::Input::<String>::new()
            .with_prompt("Platform API URL")
            .validate_with(|url: &String| {
                crate::client::platform_base(url).map(|_| ()).map_err(|error| error.to_string())
            })
            .interact_text()?,
        (None, false) => return Err(ConfigError("config init needs --api-url (or a terminal to ask on)".into()).into()),
    };
    crate::client::platform_base(&api_url).map_err(|error| ConfigError(error.to_string()))?;
    let publishable_key = match (&args.publishable_key, prompts) {
        (Some(key), _) => key.clone(),
        (None, true) => dialoguer::Input::<String>::new().with_prompt("Publishable key").interact_text()?,
        (None, false) => {
            return Err(ConfigError("config init needs --publishable-key (or a terminal to ask on)".into()).into());
        }
    };
    let secret = if let Some(command) = &args.secret_command {
        SecretSource::Command(command.clone())
    } else if args.secret_key_stdin {
        let mut secret = String::new();
        std::io::stdin().read_to_string(&mut secret).context("cannot read the secret key from stdin")?;
        let secret = secret.trim().to_owned();
        if secret.is_empty() {
            return Err(ConfigError("--secret-key-stdin read an empty secret".into()).into());
        }
        SecretSource::InFile(secret)
    } else if prompts {
        ask_secret_source()?
    } else {
        SecretSource::Environment
    };
    let read_only = target.read_only
        || (prompts
            && dialoguer::Confirm::new().with_prompt("Read-only (no token minting)?").default(false).interact()?);

    let mut profile = Table::new();
    profile.insert("api_url".into(), Value::String(api_url));
    profile.insert("publishable_key".into(), Value::String(publishable_key));
    if let Some(url) = args.catalog_url {
        profile.insert("catalog_url".into(), Value::String(url));
    }
    match &secret {
        SecretSource::Command(command) => {
            profile.insert("secret_command".into(), Value::String(command.clone()));
        }
        SecretSource::InFile(secret) => {
            profile.insert("secret_key".into(), Value::String(secret.clone()));
        }
        SecretSource::Environment => {}
    }
    if read_only {
        profile.insert("read_only".into(), Value::Boolean(true));
    }
    if let Some(concurrency) = args.concurrency {
        profile.insert("concurrency".into(), Value::Integer(i64::try_from(concurrency).unwrap_or(i64::MAX)));
    }
    if let Some(refresh) = args.refresh {
        profile.insert("refresh".into(), Value::String(refresh));
    }
    let profiles = table.entry("profiles").or_insert_with(|| Value::Table(Table::new()));
    let Value::Table(profiles) = profiles else {
        return Err(ConfigError(format!("{}: `profiles` is not a table", path.display())).into());
    };
    profiles.insert(name.clone(), Value::Table(profile));
    if args.default || existing.default_profile.is_none() {
        table.insert("default_profile".into(), Value::String(name.clone()));
    }
    let text = toml::to_string_pretty(&table)?;
    // What we write must load back.
    Config::parse(&text, &path)?;
    config::write_private_file(&path, &text)?;
    eprintln!("Wrote profile {name:?} to {} (mode 0600).", path.display());
    if matches!(secret, SecretSource::Environment) {
        eprintln!("The secret key will be read from XKIT_SECRET_KEY.");
    }
    Ok(EXIT_OK)
}

fn ask_secret_source() -> Result<SecretSource> {
    let choices = [
        "a command prints it (password manager)",
        "store it in config.toml (mode 0600)",
        "XKIT_SECRET_KEY in the environment",
    ];
    let choice = dialoguer::Select::new()
        .with_prompt("Where does the secret key come from?")
        .items(choices)
        .default(0)
        .interact()?;
    Ok(match choice {
        0 => SecretSource::Command(dialoguer::Input::<String>::new().with_prompt("Command").interact_text()?),
        1 => SecretSource::InFile(dialoguer::Password::new().with_prompt("Secret key").interact()?),
        _ => SecretSource::Environment,
    })
}

#[derive(Clone, clap::Args, Debug)]
pub struct InfoArgs {
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// `info --json`: every path, and which profile a command would use.
#[derive(Serialize)]
struct Info {
    version: &'static str,
    config_file: String,
    config_file_exists: bool,
    config_dir: String,
    data_dir: String,
    server_data_dir: String,
    embedded_data_dir: String,
    state_dir: String,
    log_dir: String,
    /// The profile in use, or `null` for the embedded demo (or an explicit --api-url).
    profile: Option<String>,
    /// Why config.toml cannot be used, when it cannot.
    config_error: Option<String>,
}

pub fn run_info(args: InfoArgs, target: &TargetArgs, paths: &Paths) -> Result<u8> {
    let shown = |path: &Path| path.display().to_string();
    let (profile, config_error) = match Config::load(paths) {
        Ok(config) => {
            let explicit_url = target.api_url.is_some() && target.profile.is_none();
            let profile = if explicit_url { Ok(None) } else { config.select_profile(target.profile.as_deref()) };
            match profile {
                Ok(profile) => (profile.map(|(name, _)| name.to_owned()), None),
                Err(error) => (None, Some(format!("{error:#}"))),
            }
        }
        Err(error) => (None, Some(format!("{error:#}"))),
    };
    let info = Info {
        version: env!("CARGO_PKG_VERSION"),
        config_file: shown(&paths.config_file()),
        config_file_exists: paths.config_file().exists(),
        config_dir: shown(&paths.config_dir),
        data_dir: shown(&paths.data_dir),
        server_data_dir: shown(&paths.server_data_dir()),
        embedded_data_dir: shown(&paths.embedded_data_dir()),
        state_dir: shown(&paths.state_dir),
        log_dir: shown(&paths.log_dir()),
        profile,
        config_error,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        output::write_json_line(&mut out, &info)?;
        return Ok(EXIT_OK);
    }
    let target_line = match (&info.profile, &target.api_url) {
        (Some(profile), _) => format!("profile {profile}"),
        (None, Some(url)) => url.clone(),
        (None, None) => "embedded demo platform".to_owned(),
    };
    let missing = if info.config_file_exists { "" } else { " (missing)" };
    let rows = [
        ("Version", info.version.to_owned()),
        ("Config file", format!("{}{missing}", info.config_file)),
        ("Config directory", info.config_dir.clone()),
        ("Data directory", info.data_dir.clone()),
        ("Server data", info.server_data_dir.clone()),
        ("Embedded demo data", info.embedded_data_dir.clone()),
        ("State directory", info.state_dir.clone()),
        ("Logs", info.log_dir.clone()),
        ("Target", target_line),
    ];
    for (label, value) in rows {
        writeln!(out, "{:<20}{value}", format!("{label}:"))?;
    }
    if let Some(error) = &info.config_error {
        writeln!(out, "{:<20}{error}", "Config error:")?;
    }
    Ok(EXIT_OK)
}
