//! HTTP Basic `publishable_key:secret_key` as an axum extractor, which the router layers on
//! every Platform API route.
//!
//! Secrets are compared by SHA-256 in constant time. Stored keys are remembered for at most a
//! second so that hot read paths do not query the database for every request; a key created
//! meanwhile by `keys create` (another process) is found on the first miss, and one revoked by
//! `keys revoke` (another process) is refused within a second.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio_util::task::TaskTracker;

use super::error::ApiError;
use super::secret::secret_matches;
use super::store::Store;

/// How long a key's hash is trusted without asking the database again: the longest a revoked
/// key keeps working.
const CACHE_TTL: Duration = Duration::from_secs(1);
/// `last_used_at` is written at most this often per key: a minute is precise enough to tell a
/// key in use from a forgotten one, and keeps writes off the hot path.
const LAST_USED_PRECISION: chrono::TimeDelta = chrono::TimeDelta::minutes(1);
/// Bound on remembered keys, so a flood of distinct keys cannot grow memory.
const CACHE_CAPACITY: usize = 1024;

/// Proof that the request carried a valid key pair.
#[derive(Debug, Clone, Copy)]
pub struct ApiKey;

#[derive(Default)]
pub struct KeyCache {
    hashes: Mutex<HashMap<String, ([u8; 32], Instant)>>,
    /// The "last used" writes in flight: the server waits for them when it stops, so none
    /// reaches the database after its owner believes it closed.
    writes: TaskTracker,
}

impl KeyCache {
    /// The background writes, for the server's shutdown to close and wait for.
    pub fn writes(&self) -> TaskTracker {
        self.writes.clone()
    }

    fn get(&self, publishable_key: &str) -> Option<[u8; 32]> {
        let hashes = self.hashes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        hashes.get(publishable_key).filter(|(_, at)| at.elapsed() < CACHE_TTL).map(|(hash, _)| *hash)
    }

    fn put(&self, publishable_key: &str, hash: [u8; 32]) {
        let mut hashes = self.hashes.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if hashes.len() >= CACHE_CAPACITY {
            hashes.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
            if hashes.len() >= CACHE_CAPACITY {
                hashes.clear();
            }
        }
        hashes.insert(publishable_key.to_owned(), (hash, Instant::now()));
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ApiKey
where
    Store: FromRef<S>,
    Arc<KeyCache>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let (publishable_key, secret) = basic_credentials(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let keys = Arc::<KeyCache>::from_ref(state);
        if let Some(hash) = keys.get(&publishable_key) {
            return if secret_matches(&hash, &secret) { Ok(ApiKey) } else { Err(ApiError::unauthorized()) };
        }
        let store = Store::from_ref(state);
        let Some(stored) = store.api_key(publishable_key.clone()).await? else {
            return Err(ApiError::unauthorized());
        };
        keys.put(&publishable_key, stored.secret_sha256);
        if !secret_matches(&stored.secret_sha256, &secret) {
            return Err(ApiError::unauthorized());
        }
        if stored.last_used_at.is_none_or(|at| chrono::Utc::now() - at >= LAST_USED_PRECISION) {
            // Off the request's path: the answer does not wait for a write.
            keys.writes.spawn(async move {
                if let Err(error) = store.touch_api_key(publishable_key).await {
                    tracing::warn!(%error, "cannot record when an API key was last used");
                }
            });
        }
        Ok(ApiKey)
    }
}

/// Runs a Platform API request (its keys already checked) as its API key's publishable part,
/// the `actor` of the events its writes produce.
pub async fn act_as_api_key(request: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let actor = basic_credentials(request.headers()).map(|(publishable_key, _)| publishable_key).unwrap_or_default();
    super::store::actor::acting_as(actor, next.run(request)).await
}

/// The user id and password of an HTTP Basic `Authorization` header (RFC 7617), as sent: the
/// one parser of the API keys and of the sandbox's client authentication.
pub fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let header = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
