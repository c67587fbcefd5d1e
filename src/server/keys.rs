//! API key pairs: a public `publishable_key` and a random secret of which only the SHA-256 is
//! stored.

use std::path::Path;

use anyhow::{Context as _, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::database::PlatformArgs;
use super::secret::{random_token, secret_hash};
use super::store::{Store, StoreError, actor};
use super::{database, private_file};

const PUBLISHABLE_PREFIX: &str = "xkpk_";
const SECRET_PREFIX: &str = "xksk_";

/// A freshly created key pair. The secret exists in clear only here, to be shown once.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeyPair {
    pub publishable_key: String,
    #[serde(serialize_with = "expose")]
    pub secret_key: SecretString,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair").field("publishable_key", &self.publishable_key).finish_non_exhaustive()
    }
}

fn expose<S: serde::Serializer>(secret: &SecretString, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(secret.expose_secret())
}

impl KeyPair {
    fn generate() -> Self {
        Self {
            publishable_key: format!("{PUBLISHABLE_PREFIX}{}", random_token(18)),
            secret_key: SecretString::from(format!("{SECRET_PREFIX}{}", random_token(32))),
        }
    }
}

/// `xkit-dash keys ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum KeysCommand {
    /// Create a publishable/secret key pair and print it once.
    Create {
        #[command(flatten)]
        platform: PlatformArgs,
        /// Print `{"publishable_key": ..., "secret_key": ...}` for scripts.
        #[arg(long)]
        json: bool,
    },
    /// List the key pairs: publishable key, when created, when last used (never a secret).
    List {
        #[command(flatten)]
        platform: PlatformArgs,
        /// One `{"publishable_key", "created_at", "last_used_at"}` object per line.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key pair: a running server (every node on a shared database) refuses it within a second.
    Revoke {
        /// The publishable key of the pair (`keys list` shows them).
        publishable_key: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
}

pub async fn run(command: KeysCommand) -> Result<()> {
    actor::acting_as(actor::CLI.to_owned(), keys_command(command)).await
}

async fn keys_command(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create { platform, json } => {
            let location = platform.location()?;
            let pair = add_new_pair(&location.open(1).await?).await?;
            // The user asked for the pair: this is the one time the secret is shown.
            if json {
                println!("{}", serde_json::to_string(&pair)?);
            } else {
                println!("publishable key: {}", pair.publishable_key);
                println!("secret key:      {}", pair.secret_key.expose_secret());
                eprintln!("The secret key is shown only once; only its hash is stored in {}.", location.describe());
            }
            Ok(())
        }
        KeysCommand::List { platform, json } => {
            let keys = platform.location()?.existing().await?.api_keys().await?;
            let time = |at: Option<chrono::DateTime<chrono::Utc>>, none: &str| {
                at.map_or_else(|| none.to_owned(), |at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            };
            if json {
                for key in &keys {
                    println!("{}", serde_json::to_string(key)?);
                }
            } else if keys.is_empty() {
                eprintln!("no keys; create one with: xkit-dash keys create");
            } else {
                println!("{:<32}  {:<20}  LAST USED", "PUBLISHABLE KEY", "CREATED");
                for key in &keys {
                    println!(
                        "{:<32}  {:<20}  {}",
                        key.publishable_key,
                        time(key.created_at, "?"),
                        time(key.last_used_at, "never")
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Revoke { publishable_key, platform } => {
            let location = platform.location()?;
            location
                .existing()
                .await?
                .revoke_api_key(publishable_key.clone())
                .await
                .with_context(|| format!("cannot revoke the key in {}", location.describe()))?;
            println!("revoked {publishable_key}");
            Ok(())
        }
    }
}

/// Creates a key pair for the platform whose data lives in `data_dir` and stores its hash.
/// Blocking, and callable from anywhere (tests and benchmarks call it inside a runtime).
pub fn create_key_pair(data_dir: &Path) -> Result<KeyPair> {
    let store = database::open_store(data_dir, 1)?;
    database::block_on_own_thread(actor::acting_as(actor::CLI.to_owned(), add_new_pair(&store)))?
}

/// Creates a key pair for the platform at `location` (tests on either backend).
pub async fn create_key_pair_at(location: &database::PlatformLocation) -> Result<KeyPair> {
    let store = location.open(1).await?;
    actor::acting_as(actor::CLI.to_owned(), add_new_pair(&store)).await
}

/// Creates a key pair on `store` (events name the task's actor: `cli` for `keys create`).
pub(super) async fn add_new_pair(store: &Store) -> Result<KeyPair> {
    let pair = KeyPair::generate();
    store
        .add_api_key(pair.publishable_key.clone(), secret_hash(pair.secret_key.expose_secret()))
        .await
        .context("cannot store the new key pair")?;
    Ok(pair)
}

/// The key pair the embedded platform uses, created on first use and kept in a 0600 file.
pub(super) async fn embedded_pair(data_dir: &Path, store: &Store) -> Result<KeyPair> {
    let path = data_dir.join("embedded-keys.json");
    if path.exists() {
        let bytes = private_file::read(&path)?;
        let pair: KeyPair =
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not a key pair file", path.display()))?;
        // Re-register the pair if the database was reset while the key file stayed.
        match store.add_api_key(pair.publishable_key.clone(), secret_hash(pair.secret_key.expose_secret())).await {
            Ok(()) | Err(StoreError::Conflict(_)) => return Ok(pair),
            Err(error) => return Err(error.into()),
        }
    }
    let pair = add_new_pair(store).await?;
    private_file::write_new(&path, &serde_json::to_vec_pretty(&pair)?)?;
    Ok(pair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::secret::secret_matches;

    #[test]
    fn pairs_are_distinct_and_only_the_right_secret_matches() {
        let first = KeyPair::generate();
        let second = KeyPair::generate();
        assert_ne!(first.publishable_key, second.publishable_key);
        assert!(first.secret_key.expose_secret().starts_with(SECRET_PREFIX));
        let stored = secret_hash(first.secret_key.expose_secret());
        assert!(secret_matches(&stored, first.secret_key.expose_secret()));
        assert!(!secret_matches(&stored, second.secret_key.expose_secret()));
        assert!(!format!("{first:?}").contains(first.secret_key.expose_secret()));
    }
}
