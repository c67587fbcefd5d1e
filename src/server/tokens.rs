//! Context tokens: HS256 JWTs signed with a random key kept in the data directory (mode 0600)
//! on SQLite, in the database on PostgreSQL (so that every node signs with the same), carrying
//! the context's `external_id` and bound to the platform by `iss` and `aud`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use secrecy::{ExposeSecret as _, SecretSlice};
use serde::{Deserialize, Serialize};

use super::private_file;

/// The signing key's file in the data directory.
pub(super) const KEY_FILE: &str = "context-token.key";
const KEY_BYTES: usize = 64;

/// A new random signing key.
pub(super) fn new_key() -> SecretSlice<u8> {
    let mut key = vec![0u8; KEY_BYTES];
    rand::rng().fill_bytes(&mut key);
    SecretSlice::from(key)
}

/// The claims of a context token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContextClaims {
    /// The context's `external_id` (also under `external_id` for readers that expect it).
    pub sub: String,
    pub external_id: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
}

pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenSigner {
    /// Loads the signing key from `data_dir`, generating it on first use.
    pub fn load(data_dir: &Path, platform_slug: &str, ttl: Duration) -> Result<Self> {
        let path = data_dir.join(KEY_FILE);
        if !path.exists() {
            private_file::write_new(&path, new_key().expose_secret())?;
        }
        let key = SecretSlice::from(private_file::read(&path)?);
        Self::with_key(&key, platform_slug, ttl).with_context(|| format!("{} is not a signing key", path.display()))
    }

    /// A signer with `key` (a database-held key: every node of a platform signs with the same).
    pub fn with_key(key: &SecretSlice<u8>, platform_slug: &str, ttl: Duration) -> Result<Self> {
        let key = key.expose_secret();
        anyhow::ensure!(key.len() >= 32, "a signing key needs at least 32 bytes, this one has {}", key.len());
        Ok(Self {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            issuer: format!("xkit-dash:{platform_slug}"),
            audience: platform_slug.to_owned(),
            ttl,
        })
    }

    pub fn mint(&self, external_id: &str) -> Result<String> {
        let now = Utc::now().timestamp();
        let claims = ContextClaims {
            sub: external_id.to_owned(),
            external_id: external_id.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now,
            exp: now.saturating_add(i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX)),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .context("cannot sign a context token")
    }

    /// Checks signature, expiry, not-before (when present), issuer and audience.
    pub fn verify(&self, token: &str) -> Result<ContextClaims> {
        let mut validation = Validation::new(Algorithm::HS256);
        // One leeway for `exp` and `nbf`: none, this server is the only clock that signs.
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<ContextClaims>(token, &self.decoding, &validation)
            .context("invalid context token")?;
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_the_same_key_and_platform() {
        let dir = tempfile::tempdir().unwrap();
        let signer = TokenSigner::load(dir.path(), "acme", Duration::from_secs(3600)).unwrap();
        let token = signer.mint("user-1").unwrap();
        let claims = signer.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.external_id.as_str()), ("user-1", "user-1"));
        assert_eq!(claims.exp - claims.iat, 3600);

        let reloaded = TokenSigner::load(dir.path(), "acme", Duration::from_secs(60)).unwrap();
        assert!(reloaded.verify(&token).is_ok(), "the key persists across loads");
        let other_platform = TokenSigner::load(dir.path(), "globex", Duration::from_secs(60)).unwrap();
        assert!(other_platform.verify(&token).is_err(), "aud/iss bind tokens to the platform slug");
        let other_dir = tempfile::tempdir().unwrap();
        let other_key = TokenSigner::load(other_dir.path(), "acme", Duration::from_secs(60)).unwrap();
        assert!(other_key.verify(&token).is_err());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let signer = TokenSigner::load(dir.path(), "acme", Duration::from_secs(60)).unwrap();
        let mut claims = signer.verify(&signer.mint("user-1").unwrap()).unwrap();
        claims.exp = Utc::now().timestamp() - 10;
        let expired = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &signer.encoding).unwrap();
        assert!(signer.verify(&expired).is_err());
    }
}
