//! API key pairs: a public `publishable_key` and a random secret of which only the SHA-256 is
//! stored. The secret has 256 bits of entropy, so a fast hash is enough (nothing to brute-force).

use std::path::Path;

use anyhow::{Context as _, Result};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::private_file;
use super::store::{Store, StoreError};

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
pub fn create_key_pair(data_dir: &Path) -> Result<KeyPair> {
    let store = super::open_store(data_dir, 1)?;
    add_new_pair(&store)
}

pub(super) fn add_new_pair(store: &Store) -> Result<KeyPair> {
    let pair = KeyPair::generate();
    store
        .add_api_key_blocking(&pair.publishable_key, secret_hash(pair.secret_key.expose_secret()))
        .context("cannot store the new key pair")?;
    Ok(pair)
}

/// The key pair the embedded platform uses, created on first use and kept in a 0600 file.
pub(super) fn embedded_pair(data_dir: &Path, store: &Store) -> Result<KeyPair> {
    let path = data_dir.join("embedded-keys.json");
    if path.exists() {
        let bytes = private_file::read(&path)?;
        let pair: KeyPair =
            serde_json::from_slice(&bytes).with_context(|| format!("{} is not a key pair file", path.display()))?;
        // Re-register the pair if the database was reset while the key file stayed.
        match store.add_api_key_blocking(&pair.publishable_key, secret_hash(pair.secret_key.expose_secret())) {
            Ok(()) | Err(StoreError::Conflict(_)) => return Ok(pair),
            Err(error) => return Err(error.into()),
        }
    }
    let pair = add_new_pair(store)?;
    private_file::write_new(&path, &serde_json::to_vec_pretty(&pair)?)?;
    Ok(pair)
}

pub(super) fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares a presented secret with a stored hash in constant time.
pub(super) fn secret_matches(stored_hash: &[u8; 32], presented_secret: &str) -> bool {
    secret_hash(presented_secret).ct_eq(stored_hash).into()
}

/// `bytes` random bytes as unpadded base64url text.
pub(super) fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

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
