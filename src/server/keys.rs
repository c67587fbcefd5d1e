//! API key pairs: a public `publishable_key` and a random secret of which only the SHA-256 is
//! stored.

use std::path::Path;

use anyhow::{Context as _, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

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

/// Creates a key pair for the platform whose data lives in `data_dir` and stores its hash.
/// Blocking, and callable from anywhere (tests and benchmarks call it inside a runtime).
pub fn create_key_pair(data_dir: &Path) -> Result<KeyPair> {
    let store = database::open_store(data_dir, 1)?;
    database::block_on_own_thread(actor::acting_as(actor::CLI.to_owned(), add_new_pair(&store)))?
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
