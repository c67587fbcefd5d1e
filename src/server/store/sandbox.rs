//! The sandbox provider's state: clients, grants, authorization codes and refresh tokens.
//!
//! The grant rules live here because each must be checked and applied in one transaction:
//! codes and refresh tokens are single use, refresh tokens always rotate, and presenting a used
//! code or a consumed refresh token revokes the whole grant (RFC 6749 §4.1.2, RFC 9700 §4.14).
//! Secrets are stored as SHA-256 hashes only.

use std::collections::HashMap;

use super::error::StoreResult;
use super::sql::{now_text, parse_timestamp, timestamp_text};
use crate::server::secret::{pkce_s256, secret_hash as sha256};
use chrono::{DateTime, Duration as TimeDelta, Utc};
use rusqlite::{Connection as Db, OptionalExtension, Transaction, params};
use secrecy::{ExposeSecret, SecretString};

/// A sandbox client as configured (seed files).
#[derive(Debug, Clone)]
pub struct SandboxClientConfig {
    pub client_id: String,
    pub client_secret: SecretString,
    pub name: String,
    /// Absolute URIs, or paths (`/catalog/oauth/callback`) that match that path on the host the
    /// browser used to reach the sandbox.
    pub redirect_uris: Vec<String>,
    pub access_ttl: std::time::Duration,
    /// `None`: refresh tokens do not expire (only rotation and revocation end them).
    pub refresh_ttl: Option<std::time::Duration>,
}

/// A grant that already exists when a seed is loaded (the demo's connections hold its refresh
/// token).
#[derive(Debug, Clone)]
pub struct SandboxGrantSeed {
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub refresh_token: SecretString,
}

/// A sandbox client as stored.
#[derive(Debug, Clone)]
pub struct SandboxClient {
    pub client_id: String,
    pub secret_sha256: [u8; 32],
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub access_ttl_secs: i64,
    pub refresh_ttl_secs: Option<i64>,
}

/// An authorization code the consent page issued.
#[derive(Debug, Clone)]
pub struct NewCode {
    pub code: SecretString,
    pub client_id: String,
    pub subject: String,
    pub scope: String,
    pub redirect_uri: String,
    /// S256 PKCE challenge, if the client sent one.
    pub code_challenge: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// What the token endpoint answers on success.
#[derive(Debug, Clone)]
pub struct SandboxIssued {
    pub grant_id: i64,
    pub scope: String,
    pub access_ttl_secs: i64,
}

/// An OAuth error of the token endpoint (`error`, `error_description`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRefusal {
    pub error: &'static str,
    pub description: String,
}

/// A grant as the admin page lists it (no token material).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxGrantView {
    pub id: i64,
    pub client_id: String,
    pub client_name: String,
    pub subject: String,
    pub scope: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_reason: Option<String>,
}

pub(super) fn invalid_grant(description: impl Into<String>) -> SandboxRefusal {
    SandboxRefusal { error: "invalid_grant", description: description.into() }
}

/// Why a grant was revoked, as the admin page shows it.
pub(super) const CODE_REPLAYED: &str = "authorization code replayed";
pub(super) const REFRESH_TOKEN_REUSED: &str = "a rotated refresh token was presented again";
pub(super) const REVOKED_BY_CLIENT: &str = "revoked by the client";
pub(super) const REVOKED_BY_ADMIN: &str = "revoked on the sandbox admin page";

/// An authorization code as stored, for [`check_code`].
pub(super) struct StoredCode {
    pub owner: String,
    pub subject: String,
    pub scope: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    /// `None` when unreadable (then expired).
    pub expires_at: Option<DateTime<Utc>>,
    pub used: bool,
    /// The grant the code's first exchange made.
    pub grant_id: Option<i64>,
}

/// What an exchange of a code must do; the rules both backends apply.
pub(super) enum CodeCheck {
    Refused(SandboxRefusal),
    /// A used code presented again: revoke its grant (if any), then refuse with [`code_replayed`].
    Replayed(Option<i64>),
    Valid(StoredCode),
}

/// Checks the presented code (`None`: unknown) of `client_id`.
pub(super) fn check_code(
    code: Option<StoredCode>,
    client_id: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
) -> CodeCheck {
    let Some(code) = code else { return CodeCheck::Refused(invalid_grant("unknown authorization code")) };
    if code.owner != client_id {
        return CodeCheck::Refused(invalid_grant("the authorization code was issued to another client"));
    }
    if code.used {
        return CodeCheck::Replayed(code.grant_id);
    }
    if code.expires_at.is_none_or(|at| at <= Utc::now()) {
        return CodeCheck::Refused(invalid_grant("the authorization code has expired"));
    }
    if redirect_uri != Some(code.redirect_uri.as_str()) {
        return CodeCheck::Refused(invalid_grant("redirect_uri does not match the authorization request"));
    }
    if let Some(challenge) = &code.code_challenge {
        let matches = code_verifier.is_some_and(|verifier| pkce_s256(verifier) == *challenge);
        if !matches {
            return CodeCheck::Refused(invalid_grant("PKCE verification failed"));
        }
    }
    CodeCheck::Valid(code)
}

pub(super) fn code_replayed() -> SandboxRefusal {
    invalid_grant("the authorization code was already used; its grant is revoked")
}

/// A refresh token as stored, with its grant, for [`check_refresh_token`].
pub(super) struct StoredRefreshToken {
    pub grant_id: i64,
    /// `None`: it does not expire.
    pub expires_at: Option<DateTime<Utc>>,
    pub consumed: bool,
    pub owner: String,
    pub scope: String,
    pub revoked: bool,
}

/// What a refresh must do; the rules both backends apply.
pub(super) enum RefreshCheck {
    Refused(SandboxRefusal),
    /// A consumed (rotated) token presented again: revoke its grant, then refuse with
    /// [`refresh_token_reused`].
    Reused(i64),
    Valid(StoredRefreshToken),
}

/// Checks the presented refresh token (`None`: unknown) of `client_id`.
pub(super) fn check_refresh_token(token: Option<StoredRefreshToken>, client_id: &str) -> RefreshCheck {
    let Some(token) = token else { return RefreshCheck::Refused(invalid_grant("unknown refresh token")) };
    if token.owner != client_id {
        return RefreshCheck::Refused(invalid_grant("the refresh token was issued to another client"));
    }
    if token.revoked {
        return RefreshCheck::Refused(invalid_grant("the grant has been revoked"));
    }
    if token.consumed {
        return RefreshCheck::Reused(token.grant_id);
    }
    if token.expires_at.is_some_and(|at| at <= Utc::now()) {
        return RefreshCheck::Refused(invalid_grant("the refresh token has expired"));
    }
    RefreshCheck::Valid(token)
}

pub(super) fn refresh_token_reused() -> SandboxRefusal {
    invalid_grant("the refresh token was already used; its grant is revoked")
}

pub(super) fn upsert_client(tx: &Transaction<'_>, client: &SandboxClientConfig) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO sandbox_clients (client_id, secret_sha256, name, redirect_uris, access_ttl_secs, refresh_ttl_secs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (client_id) DO UPDATE SET secret_sha256 = excluded.secret_sha256, name = excluded.name,
             redirect_uris = excluded.redirect_uris, access_ttl_secs = excluded.access_ttl_secs,
             refresh_ttl_secs = excluded.refresh_ttl_secs",
    )?
    .execute(params![
        client.client_id,
        &sha256(client.client_secret.expose_secret())[..],
        client.name,
        client.redirect_uris.join(" "),
        seconds(client.access_ttl),
        client.refresh_ttl.map(seconds),
    ])?;
    Ok(())
}

/// Adds the seeded grants whose refresh token is not known yet; how many. Each client is read
/// once (a generated platform has hundreds of thousands of grants and a handful of clients).
pub(super) fn insert_grants_if_absent(tx: &Transaction<'_>, grants: &[SandboxGrantSeed]) -> StoreResult<usize> {
    let mut clients: HashMap<String, SandboxClient> = HashMap::new();
    let mut added = 0;
    for grant in grants {
        let hash = sha256(grant.refresh_token.expose_secret());
        let known: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM sandbox_refresh_tokens WHERE token_sha256 = ?1)")?
            .query_row([&hash[..]], |row| row.get(0))?;
        if known {
            continue;
        }
        if !clients.contains_key(&grant.client_id) {
            let client = client(tx, &grant.client_id)?
                .ok_or_else(|| super::StoreError::Invalid(format!("no sandbox client {:?}", grant.client_id)))?;
            clients.insert(grant.client_id.clone(), client);
        }
        let client = &clients[&grant.client_id];
        let grant_id = create_grant(tx, &grant.client_id, &grant.subject, &grant.scope)?;
        insert_refresh_token(tx, &hash, grant_id, client)?;
        added += 1;
    }
    Ok(added)
}

pub(super) fn client(db: &Db, client_id: &str) -> StoreResult<Option<SandboxClient>> {
    let mut statement = db.prepare_cached(
        "SELECT client_id, secret_sha256, name, redirect_uris, access_ttl_secs, refresh_ttl_secs
         FROM sandbox_clients WHERE client_id = ?1",
    )?;
    Ok(statement
        .query_row([client_id], |row| {
            let hash: Vec<u8> = row.get(1)?;
            Ok(SandboxClient {
                client_id: row.get(0)?,
                secret_sha256: <[u8; 32]>::try_from(hash.as_slice()).unwrap_or_default(),
                name: row.get(2)?,
                redirect_uris: row.get::<_, String>(3)?.split_whitespace().map(str::to_owned).collect(),
                access_ttl_secs: row.get(4)?,
                refresh_ttl_secs: row.get(5)?,
            })
        })
        .optional()?)
}

pub(super) fn add_code(tx: &Transaction<'_>, code: &NewCode) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO sandbox_codes (code_sha256, client_id, subject, scope, redirect_uri, code_challenge, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        &sha256(code.code.expose_secret())[..],
        code.client_id,
        code.subject,
        code.scope,
        code.redirect_uri,
        code.code_challenge,
        timestamp_text(code.expires_at),
    ])?;
    Ok(())
}

/// `grant_type=authorization_code` for an authenticated client.
pub(super) fn exchange_code(
    tx: &Transaction<'_>,
    client_id: &str,
    code: &str,
    redirect_uri: Option<&str>,
    code_verifier: Option<&str>,
    new_refresh_token: &SecretString,
) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
    let hash = sha256(code);
    let stored = tx
        .prepare_cached(
            "SELECT client_id, subject, scope, redirect_uri, code_challenge, expires_at, used_at, grant_id
             FROM sandbox_codes WHERE code_sha256 = ?1",
        )?
        .query_row([&hash[..]], |row| {
            Ok(StoredCode {
                owner: row.get(0)?,
                subject: row.get(1)?,
                scope: row.get(2)?,
                redirect_uri: row.get(3)?,
                code_challenge: row.get(4)?,
                expires_at: parse_timestamp(row.get(5)?),
                used: row.get::<_, Option<String>>(6)?.is_some(),
                grant_id: row.get(7)?,
            })
        })
        .optional()?;
    let StoredCode { subject, scope, .. } = match check_code(stored, client_id, redirect_uri, code_verifier) {
        CodeCheck::Refused(refusal) => return Ok(Err(refusal)),
        CodeCheck::Replayed(grant_id) => {
            if let Some(grant_id) = grant_id {
                revoke_grant(tx, grant_id, CODE_REPLAYED)?;
            }
            return Ok(Err(code_replayed()));
        }
        CodeCheck::Valid(code) => code,
    };
    let client = client(tx, client_id)?.ok_or_else(|| super::StoreError::NotFound("no such client".into()))?;
    let grant_id = create_grant(tx, client_id, &subject, &scope)?;
    tx.prepare_cached("UPDATE sandbox_codes SET used_at = ?1, grant_id = ?2 WHERE code_sha256 = ?3")?
        .execute(params![now_text(), grant_id, &hash[..]])?;
    insert_refresh_token(tx, &sha256(new_refresh_token.expose_secret()), grant_id, &client)?;
    Ok(Ok(SandboxIssued { grant_id, scope, access_ttl_secs: client.access_ttl_secs }))
}

/// `grant_type=refresh_token` for an authenticated client: the presented token is consumed and
/// `new_refresh_token` replaces it.
pub(super) fn refresh(
    tx: &Transaction<'_>,
    client_id: &str,
    refresh_token: &str,
    new_refresh_token: &SecretString,
) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
    let hash = sha256(refresh_token);
    let stored = tx
        .prepare_cached(
            "SELECT t.grant_id, t.expires_at, t.consumed_at, g.client_id, g.scope, g.revoked_at
             FROM sandbox_refresh_tokens t JOIN sandbox_grants g ON g.id = t.grant_id WHERE t.token_sha256 = ?1",
        )?
        .query_row([&hash[..]], |row| {
            Ok(StoredRefreshToken {
                grant_id: row.get(0)?,
                expires_at: parse_timestamp(row.get(1)?),
                consumed: row.get::<_, Option<String>>(2)?.is_some(),
                owner: row.get(3)?,
                scope: row.get(4)?,
                revoked: row.get::<_, Option<String>>(5)?.is_some(),
            })
        })
        .optional()?;
    let StoredRefreshToken { grant_id, scope, .. } = match check_refresh_token(stored, client_id) {
        RefreshCheck::Refused(refusal) => return Ok(Err(refusal)),
        RefreshCheck::Reused(grant_id) => {
            revoke_grant(tx, grant_id, REFRESH_TOKEN_REUSED)?;
            return Ok(Err(refresh_token_reused()));
        }
        RefreshCheck::Valid(token) => token,
    };
    let client = client(tx, client_id)?.ok_or_else(|| super::StoreError::NotFound("no such client".into()))?;
    let now = now_text();
    tx.prepare_cached("UPDATE sandbox_refresh_tokens SET consumed_at = ?1 WHERE token_sha256 = ?2")?
        .execute(params![now, &hash[..]])?;
    tx.prepare_cached("UPDATE sandbox_grants SET last_used_at = ?1 WHERE id = ?2")?.execute(params![now, grant_id])?;
    insert_refresh_token(tx, &sha256(new_refresh_token.expose_secret()), grant_id, &client)?;
    Ok(Ok(SandboxIssued { grant_id, scope, access_ttl_secs: client.access_ttl_secs }))
}

/// RFC 7009 revocation by refresh token (of this client); false when the token is unknown.
pub(super) fn revoke_by_refresh_token(tx: &Transaction<'_>, client_id: &str, token: &str) -> StoreResult<bool> {
    let grant_id: Option<i64> = tx
        .prepare_cached(
            "SELECT t.grant_id FROM sandbox_refresh_tokens t JOIN sandbox_grants g ON g.id = t.grant_id
             WHERE t.token_sha256 = ?1 AND g.client_id = ?2",
        )?
        .query_row(params![&sha256(token)[..], client_id], |row| row.get(0))
        .optional()?;
    match grant_id {
        Some(grant_id) => revoke_grant(tx, grant_id, REVOKED_BY_CLIENT),
        None => Ok(false),
    }
}

/// Revokes a grant: every refresh token of it stops working. False if unknown or already revoked.
pub(super) fn revoke_grant(tx: &Transaction<'_>, grant_id: i64, reason: &str) -> StoreResult<bool> {
    let changed = tx
        .prepare_cached(
            "UPDATE sandbox_grants SET revoked_at = ?1, revoked_reason = ?2 WHERE id = ?3 AND revoked_at IS NULL",
        )?
        .execute(params![now_text(), reason, grant_id])?;
    Ok(changed > 0)
}

/// The newest grants first, at most `limit`.
pub(super) fn list_grants(db: &Db, limit: usize) -> StoreResult<Vec<SandboxGrantView>> {
    let mut statement = db.prepare_cached(
        "SELECT g.id, g.client_id, c.name, g.subject, g.scope, g.created_at, g.last_used_at, g.revoked_at,
             g.revoked_reason
         FROM sandbox_grants g JOIN sandbox_clients c ON c.client_id = g.client_id ORDER BY g.id DESC LIMIT ?1",
    )?;
    let grants = statement
        .query_map([limit as i64], |row| {
            Ok(SandboxGrantView {
                id: row.get(0)?,
                client_id: row.get(1)?,
                client_name: row.get(2)?,
                subject: row.get(3)?,
                scope: row.get(4)?,
                created_at: parse_timestamp(row.get(5)?),
                last_used_at: parse_timestamp(row.get(6)?),
                revoked_at: parse_timestamp(row.get(7)?),
                revoked_reason: row.get(8)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(grants)
}

fn create_grant(tx: &Transaction<'_>, client_id: &str, subject: &str, scope: &str) -> StoreResult<i64> {
    tx.prepare_cached("INSERT INTO sandbox_grants (client_id, subject, scope, created_at) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![client_id, subject, scope, now_text()])?;
    Ok(tx.last_insert_rowid())
}

fn insert_refresh_token(
    tx: &Transaction<'_>,
    token_sha256: &[u8; 32],
    grant_id: i64,
    client: &SandboxClient,
) -> StoreResult<()> {
    let now = Utc::now();
    let expires_at = client.refresh_ttl_secs.map(|secs| timestamp_text(now + TimeDelta::seconds(secs)));
    tx.prepare_cached(
        "INSERT INTO sandbox_refresh_tokens (token_sha256, grant_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![&token_sha256[..], grant_id, timestamp_text(now), expires_at])?;
    Ok(())
}

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
