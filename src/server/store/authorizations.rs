//! The token lifecycle's writes: refresh results, catalog authorization flows, repair tokens.
//!
//! Every function that changes an authorization goes through [`update_authorization`] or ends
//! with [`store_health`] (the catalog flow's multi-statement steps), which recomputes
//! the connection's stored health with the model's one definition, so listings stay correct.
//! Writes that race with other writers are compare-and-set: a refresh result is only saved if
//! the refresh token it used is still the stored one, and a callback only lands if its `state`
//! is still the authorization's, so a late answer never overwrites a newer authorization.

use chrono::{DateTime, Utc};
use rusqlite::{Connection as Db, OptionalExtension, Transaction, params};
use secrecy::{ExposeSecret, SecretString};

use super::error::{StoreError, StoreResult};
use super::records::ConnectorOAuth;
use super::sql::{derived_health, now_text, parse_timestamp, timestamp_text};
use super::{connections, contexts};
use crate::model::AuthorizationStatus;

/// What the refresher needs to know about one connection.
#[derive(Debug, Clone)]
pub struct RefreshState {
    pub connection_id: String,
    pub enabled: bool,
    pub status: AuthorizationStatus,
    pub refresh_token: Option<SecretString>,
    pub expires_at: Option<DateTime<Utc>>,
    /// When the current access token was issued (refreshed or authorized), if known.
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// When the authorization was last written: its age when it was never refreshed.
    pub updated_at: Option<DateTime<Utc>>,
    pub oauth: Option<ConnectorOAuth>,
    /// While its last refresh failed transiently: when the provider may be asked again (the
    /// `retry_at` of its newest `connection.refresh_failed` event), whichever node failed, so
    /// that every node on one database waits alike.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Tokens a provider issued (code exchange or refresh).
#[derive(Debug, Clone)]
pub struct IssuedTokens {
    pub access_token: SecretString,
    /// `None` when the provider did not rotate: the stored refresh token is kept.
    pub refresh_token: Option<SecretString>,
    pub expires_at: DateTime<Utc>,
}

/// An OAuth error a provider answered (`error`, `error_description`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderFailure {
    pub code: String,
    pub message: String,
}

/// A catalog authorization flow about to send the browser to the provider.
#[derive(Debug, Clone)]
pub struct NewFlow {
    pub state: String,
    pub pkce_verifier: SecretString,
    pub redirect_uri: String,
    pub authorize_url: String,
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
impl NewFlow {
    /// A flow of `state` to a closed loopback port, ending in five minutes: what the store's
    /// tests start when they need an authorization in flight.
    pub(crate) fn for_test(state: &str) -> Self {
        NewFlow {
            state: state.into(),
            pkce_verifier: SecretString::from("verifier"),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            authorize_url: "http://127.0.0.1:9/authorize".into(),
            expires_at: chrono::Utc::now() + chrono::Duration::minutes(5),
        }
    }
}

/// A flow found by its `state` when the provider sends the browser back.
#[derive(Debug, Clone)]
pub struct ReturningFlow {
    pub connection_id: String,
    pub connector_slug: String,
    pub external_id: String,
    pub pkce_verifier: SecretString,
    pub redirect_uri: String,
    pub expires_at: DateTime<Utc>,
    pub oauth: Option<ConnectorOAuth>,
}

/// A repair token's record.
#[derive(Debug, Clone)]
pub struct RepairGrant {
    pub external_id: String,
    pub connector_slug: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

pub(super) fn connector_oauth(db: &Db, slug: &str) -> StoreResult<Option<ConnectorOAuth>> {
    let mut statement = db.prepare_cached(
        "SELECT oauth_authorize_url, oauth_token_url, oauth_client_id, oauth_client_secret, oauth_scopes
         FROM connectors WHERE slug = ?1",
    )?;
    let row = statement
        .query_row([slug], |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no connector with slug {slug:?}")))?;
    Ok(match row {
        (Some(authorize_url), Some(token_url), Some(client_id), secret, scopes) => Some(ConnectorOAuth {
            authorize_url,
            token_url,
            client_id,
            client_secret: SecretString::from(secret.unwrap_or_default()),
            scopes: scopes.unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
        }),
        _ => None,
    })
}

pub(super) fn refresh_state(db: &Db, id: &str) -> StoreResult<RefreshState> {
    let mut statement = db.prepare_cached(
        "SELECT c.enabled, c.connector_slug, a.status, a.refresh_token, a.expires_at, a.last_refreshed_at, a.updated_at,
             CASE WHEN a.refresh_error IS NOT NULL THEN
                 (SELECT json_extract(e.payload, '$.retry_at') FROM events e
                  WHERE e.connection_id = c.id AND e.event_type = 'connection.refresh_failed' ORDER BY e.seq DESC LIMIT 1)
             END
         FROM connections c LEFT JOIN authorizations a ON a.connection_seq = c.seq WHERE c.id = ?1",
    )?;
    let (enabled, slug, status, refresh_token, expires_at, last_refreshed_at, updated_at, retry_at) = statement
        .query_row([id], |row| {
            Ok((
                row.get::<_, bool>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, Option<String>>(7)?,
            ))
        })
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no connection with id {id:?}")))?;
    Ok(RefreshState {
        connection_id: id.to_owned(),
        enabled,
        status: status.as_deref().map(AuthorizationStatus::parse).unwrap_or_default(),
        refresh_token: refresh_token.filter(|token| !token.is_empty()).map(SecretString::from),
        expires_at: parse_timestamp(expires_at),
        last_refreshed_at: parse_timestamp(last_refreshed_at),
        updated_at: parse_timestamp(updated_at),
        oauth: connector_oauth(db, &slug)?,
        retry_at: parse_timestamp(retry_at),
    })
}

/// Saves a refresh's tokens if `used` is still the stored refresh token; false otherwise.
pub(super) fn save_refreshed(
    tx: &Transaction<'_>,
    id: &str,
    used: &SecretString,
    tokens: &IssuedTokens,
) -> StoreResult<bool> {
    release_refresh_claim(tx, id)?;
    update_authorization(
        tx,
        id,
        "UPDATE authorizations SET access_token = ?2, refresh_token = COALESCE(?3, refresh_token),
             expires_at = ?4, last_refreshed_at = ?5, refresh_error = NULL, updated_at = ?5
         WHERE connection_seq = ?1 AND status = 'active' AND refresh_token = ?6",
        params![
            tokens.access_token.expose_secret(),
            tokens.refresh_token.as_ref().map(|token| token.expose_secret()),
            timestamp_text(tokens.expires_at),
            now_text(),
            used.expose_secret(),
        ],
    )
}

/// A permanent refresh failure (`invalid_grant`...): `error` with the provider's words and no
/// credential, if `used` is still the stored refresh token; false otherwise.
pub(super) fn fail_refresh(
    tx: &Transaction<'_>,
    id: &str,
    used: &SecretString,
    failure: &ProviderFailure,
) -> StoreResult<bool> {
    release_refresh_claim(tx, id)?;
    fail_with(tx, id, failure, "status = 'active' AND refresh_token = ?5", used.expose_secret())
}

/// A transient refresh failure: remembered for the operator, the authorization is unchanged.
pub(super) fn record_refresh_error(tx: &Transaction<'_>, id: &str, message: &str) -> StoreResult<()> {
    release_refresh_claim(tx, id)?;
    let sql = "UPDATE authorizations SET refresh_error = ?2, updated_at = ?3 WHERE connection_seq = ?1";
    update_authorization(tx, id, sql, params![message, now_text()]).map(|_| ())
}

/// Claims the next refresh of connection `id` for the caller until `until`, if its refresh token
/// and expiry are still `used` and `expires_at` (what the caller read): false when another
/// claim (another process's refresh in flight) has not expired, or when someone refreshed
/// meanwhile. Refresh tokens rotate, and a provider that sees one used twice may revoke the
/// grant, so two processes on one database must not refresh the same connection with the same
/// token; a crashed process's claim expires by itself.
pub(super) fn claim_refresh(
    tx: &Transaction<'_>,
    id: &str,
    used: &SecretString,
    expires_at: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
) -> StoreResult<bool> {
    let claimed = tx
        .prepare_cached(
            "INSERT INTO refresh_claims (connection_seq, until)
             SELECT c.seq, ?2 FROM connections c JOIN authorizations a ON a.connection_seq = c.seq
             WHERE c.id = ?1 AND a.refresh_token = ?4 AND unixepoch(a.expires_at) IS ?5
             ON CONFLICT (connection_seq) DO UPDATE SET until = excluded.until WHERE refresh_claims.until <= ?3",
        )?
        .execute(params![
            id,
            timestamp_text(until),
            now_text(),
            used.expose_secret(),
            // Compared as instants, whatever the stored text's form.
            expires_at.map(|at| at.timestamp())
        ])?;
    Ok(claimed == 1)
}

/// Ends the claim of the refresh whose result the transaction saves.
fn release_refresh_claim(tx: &Transaction<'_>, id: &str) -> StoreResult<()> {
    tx.prepare_cached("DELETE FROM refresh_claims WHERE connection_seq = (SELECT seq FROM connections WHERE id = ?1)")?
        .execute([id])?;
    Ok(())
}

/// Starts a catalog authorization: the named connection (which must belong to the context and
/// connector) or a new one becomes `awaiting_callback` with the flow's `state` and authorize
/// URL, its old credential is dropped, and older flows of that connection stop counting.
/// The repair token that opened the page, if any, is spent last: any refusal before it (and a
/// token already spent or expired, `Conflict`) rolls the whole transaction back, link included.
/// Returns the connection id.
pub(super) fn begin_authorization(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    connection_id: Option<&str>,
    flow: &NewFlow,
    repair_token: Option<&[u8; 32]>,
    claim: Claim,
) -> StoreResult<String> {
    let now = now_text();
    let (seq, id) = claim_connection(tx, external_id, slug, connection_id, claim)?;
    tx.prepare_cached(
        "INSERT INTO authorizations (connection_seq, status, authorize_url, state, updated_at)
         VALUES (?1, 'awaiting_callback', ?2, ?3, ?4)
         ON CONFLICT (connection_seq) DO UPDATE SET status = 'awaiting_callback',
             authorize_url = excluded.authorize_url, state = excluded.state, error_code = NULL,
             error_message = NULL, access_token = NULL, refresh_token = NULL, expires_at = NULL,
             refresh_error = NULL, updated_at = excluded.updated_at",
    )?
    .execute(params![seq, flow.authorize_url, flow.state, now])?;
    tx.prepare_cached("DELETE FROM oauth_flows WHERE connection_seq = ?1")?.execute([seq])?;
    tx.prepare_cached(
        "INSERT INTO oauth_flows (state, connection_seq, pkce_verifier, redirect_uri, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        flow.state,
        seq,
        flow.pkce_verifier.expose_secret(),
        flow.redirect_uri,
        timestamp_text(flow.expires_at)
    ])?;
    store_health(tx, seq)?;
    if let Some(token_sha256) = repair_token
        && !use_repair_token(tx, token_sha256)?
    {
        return Err(StoreError::Conflict("this repair link has already been used or has expired".into()));
    }
    Ok(id)
}

/// What an authorization may do with a connection id that names no connection yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Only an existing connection of the context (the catalog's Reconnect button).
    ExistingOnly,
    /// Create the connection under that id (xkit.js's `addConnection(slug, id)`).
    CreateMissing,
}

/// The connection an authorization starts on: the context's connection `connection_id` to
/// `slug` (enabled again if it was removed), a new one under that id when `claim` allows and
/// no connection has it, or a new one with a fresh id. Returns its row and id.
pub(super) fn claim_connection(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    connection_id: Option<&str>,
    claim: Claim,
) -> StoreResult<(i64, String)> {
    let context_id = contexts::row_id(tx, external_id)?;
    connections::connector(tx, slug)?;
    let now = now_text();
    let existing = |id: &str| -> StoreResult<Option<i64>> {
        Ok(tx
            .prepare_cached("SELECT seq FROM connections WHERE id = ?1 AND context_id = ?2 AND connector_slug = ?3")?
            .query_row(params![id, context_id, slug], |row| row.get::<_, i64>(0))
            .optional()?)
    };
    let taken = |id: &str| -> StoreResult<bool> {
        Ok(tx.prepare_cached("SELECT 1 FROM connections WHERE id = ?1")?.exists([id])?)
    };
    let new_id = match connection_id {
        Some(id) => {
            if let Some(seq) = existing(id)? {
                tx.prepare_cached("UPDATE connections SET enabled = 1 WHERE seq = ?1")?.execute([seq])?;
                return Ok((seq, id.to_owned()));
            }
            // Another context's connection is not told apart from a missing one.
            if claim == Claim::ExistingOnly || taken(id)? {
                return Err(StoreError::NotFound(format!(
                    "context {external_id:?} has no connection {id:?} to {slug:?}"
                )));
            }
            id.to_owned()
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    tx.prepare_cached(
        "INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
         VALUES (?1, ?2, ?3, 1, ?4, ?5, ?5)",
    )?
    .execute(params![new_id, context_id, slug, derived_health(true, None).rank(), now])?;
    Ok((tx.last_insert_rowid(), new_id))
}

/// Starts an authorization of a connector that collects fields (an API key) instead of sending
/// the browser to a provider: the connection becomes `awaiting_callback` with `state`, which
/// [`submit_fields`] must present. Returns the connection id.
pub(super) fn begin_field_authorization(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    connection_id: Option<&str>,
    state: &str,
) -> StoreResult<String> {
    let (seq, id) = claim_connection(tx, external_id, slug, connection_id, Claim::CreateMissing)?;
    tx.prepare_cached(
        "INSERT INTO authorizations (connection_seq, status, state, updated_at) VALUES (?1, 'awaiting_callback', ?2, ?3)
         ON CONFLICT (connection_seq) DO UPDATE SET status = 'awaiting_callback', authorize_url = NULL,
             state = excluded.state, error_code = NULL, error_message = NULL, access_token = NULL,
             refresh_token = NULL, expires_at = NULL, refresh_error = NULL, updated_at = excluded.updated_at",
    )?
    .execute(params![seq, state, now_text()])?;
    tx.prepare_cached("DELETE FROM oauth_flows WHERE connection_seq = ?1")?.execute([seq])?;
    store_health(tx, seq)?;
    Ok(id)
}

/// The fields of a field authorization arrived: the context's authorization to `slug` waiting
/// with `state` becomes `active` with `credential`. The connection id, or `None` when no
/// authorization of that context waits with that state.
pub(super) fn submit_fields(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    state: &str,
    credential: &str,
) -> StoreResult<Option<String>> {
    let found = tx
        .prepare_cached(
            "SELECT c.seq, c.id FROM connections c JOIN contexts x ON x.id = c.context_id
                 JOIN authorizations a ON a.connection_seq = c.seq
             WHERE x.external_id = ?1 AND c.connector_slug = ?2 AND a.state = ?3 AND a.status = 'awaiting_callback'",
        )?
        .query_row(params![external_id, slug, state], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)))
        .optional()?;
    let Some((seq, id)) = found else { return Ok(None) };
    let now = now_text();
    tx.prepare_cached(
        "UPDATE authorizations SET status = 'active', access_token = ?2, state = NULL, last_refreshed_at = ?3,
             updated_at = ?3
         WHERE connection_seq = ?1",
    )?
    .execute(params![seq, credential, now])?;
    store_health(tx, seq)?;
    Ok(Some(id))
}

pub(super) fn flow_context(db: &Db, state: &str) -> StoreResult<Option<String>> {
    Ok(db
        .prepare_cached(
            "SELECT x.external_id FROM oauth_flows f JOIN connections c ON c.seq = f.connection_seq
             JOIN contexts x ON x.id = c.context_id WHERE f.state = ?1",
        )?
        .query_row([state], |row| row.get::<_, String>(0))
        .optional()?)
}

/// Takes (deletes) the flow of `state`; while it has not expired and the authorization still
/// waits for it, the authorization moves to `retrieving_tokens`. `None` for an unknown or
/// already used state.
pub(super) fn take_flow(tx: &Transaction<'_>, state: &str) -> StoreResult<Option<ReturningFlow>> {
    let row = tx
        .prepare_cached(
            "SELECT f.connection_seq, f.pkce_verifier, f.redirect_uri, f.expires_at, c.id, c.connector_slug,
                 x.external_id
             FROM oauth_flows f JOIN connections c ON c.seq = f.connection_seq JOIN contexts x ON x.id = c.context_id
             WHERE f.state = ?1",
        )?
        .query_row([state], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
            ))
        })
        .optional()?;
    let Some((seq, verifier, redirect_uri, expires_at, connection_id, connector_slug, external_id)) = row else {
        return Ok(None);
    };
    tx.prepare_cached("DELETE FROM oauth_flows WHERE state = ?1")?.execute([state])?;
    let expires_at = parse_timestamp(Some(expires_at)).unwrap_or_default();
    if expires_at > Utc::now() {
        tx.prepare_cached(
            "UPDATE authorizations SET status = 'retrieving_tokens', updated_at = ?1
             WHERE connection_seq = ?2 AND state = ?3",
        )?
        .execute(params![now_text(), seq, state])?;
        store_health(tx, seq)?;
    }
    let oauth = connector_oauth(tx, &connector_slug)?;
    Ok(Some(ReturningFlow {
        connection_id,
        connector_slug,
        external_id,
        pkce_verifier: SecretString::from(verifier),
        redirect_uri,
        expires_at,
        oauth,
    }))
}

/// The code exchange succeeded: `active` with the new tokens, if `state` is still current.
pub(super) fn complete_authorization(
    tx: &Transaction<'_>,
    id: &str,
    state: &str,
    tokens: &IssuedTokens,
) -> StoreResult<bool> {
    update_authorization(
        tx,
        id,
        "UPDATE authorizations SET status = 'active', access_token = ?2, refresh_token = ?3, expires_at = ?4,
             last_refreshed_at = ?5, error_code = NULL, error_message = NULL, refresh_error = NULL,
             authorize_url = NULL, state = NULL, updated_at = ?5
         WHERE connection_seq = ?1 AND state = ?6",
        params![
            tokens.access_token.expose_secret(),
            tokens.refresh_token.as_ref().map(|token| token.expose_secret()),
            timestamp_text(tokens.expires_at),
            now_text(),
            state,
        ],
    )
}

/// The provider refused (or the exchange failed): `error` with its words, if `state` is current.
pub(super) fn fail_authorization(
    tx: &Transaction<'_>,
    id: &str,
    state: &str,
    failure: &ProviderFailure,
) -> StoreResult<bool> {
    fail_with(tx, id, failure, "state = ?5", state)
}

/// Puts an authorization in `error` with the provider's `failure`, without any credential or
/// flow in progress, when `guard` (a condition on `?5`, bound to `guarded`) still holds.
fn fail_with(
    tx: &Transaction<'_>,
    id: &str,
    failure: &ProviderFailure,
    guard: &str,
    guarded: &str,
) -> StoreResult<bool> {
    let sql = format!(
        "UPDATE authorizations SET status = 'error', error_code = ?2, error_message = ?3, access_token = NULL,
             refresh_token = NULL, expires_at = NULL, refresh_error = NULL, authorize_url = NULL, state = NULL,
             updated_at = ?4
         WHERE connection_seq = ?1 AND {guard}"
    );
    update_authorization(tx, id, &sql, params![failure.code, failure.message, now_text(), guarded])
}

pub(super) fn add_repair_token(
    tx: &Transaction<'_>,
    token_sha256: &[u8; 32],
    external_id: &str,
    slug: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    let context_id = contexts::row_id(tx, external_id)?;
    connections::connector(tx, slug)?;
    // Expired links are dead weight; dropping them here keeps the table small without a sweeper.
    tx.prepare_cached("DELETE FROM repair_tokens WHERE expires_at < ?1")?.execute([now_text()])?;
    tx.prepare_cached(
        "INSERT INTO repair_tokens (token_sha256, context_id, connector_slug, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![&token_sha256[..], context_id, slug, timestamp_text(expires_at)])?;
    Ok(())
}

pub(super) fn repair_grant(db: &Db, token_sha256: &[u8; 32]) -> StoreResult<Option<RepairGrant>> {
    let mut statement = db.prepare_cached(
        "SELECT x.external_id, r.connector_slug, r.expires_at, r.used_at IS NOT NULL
         FROM repair_tokens r JOIN contexts x ON x.id = r.context_id WHERE r.token_sha256 = ?1",
    )?;
    Ok(statement
        .query_row([&token_sha256[..]], |row| {
            Ok(RepairGrant {
                external_id: row.get(0)?,
                connector_slug: row.get(1)?,
                expires_at: parse_timestamp(row.get(2)?).unwrap_or_default(),
                used: row.get(3)?,
            })
        })
        .optional()?)
}

/// Marks a repair token used; false if it already was, or has expired.
fn use_repair_token(tx: &Transaction<'_>, token_sha256: &[u8; 32]) -> StoreResult<bool> {
    let now = now_text();
    let changed = tx
        .prepare_cached(
            "UPDATE repair_tokens SET used_at = ?1 WHERE token_sha256 = ?2 AND used_at IS NULL AND expires_at > ?1",
        )?
        .execute(params![now, &token_sha256[..]])?;
    Ok(changed > 0)
}

/// Runs `sql`, an `UPDATE authorizations ... WHERE connection_seq = ?1 AND <guard>`, on the
/// authorization of connection `id` (`?1` is its row, `values` fill `?2` onwards), then
/// recomputes the stored health. True when the guard let the update through.
fn update_authorization(
    tx: &Transaction<'_>,
    id: &str,
    sql: &str,
    values: &[&dyn rusqlite::ToSql],
) -> StoreResult<bool> {
    let seq = connection_seq(tx, id)?;
    let mut bound: Vec<&dyn rusqlite::ToSql> = vec![&seq];
    bound.extend_from_slice(values);
    let changed = tx.prepare_cached(sql)?.execute(bound.as_slice())?;
    store_health(tx, seq)?;
    Ok(changed > 0)
}

fn connection_seq(db: &Db, id: &str) -> StoreResult<i64> {
    db.prepare_cached("SELECT seq FROM connections WHERE id = ?1")?
        .query_row([id], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no connection with id {id:?}")))
}

/// Recomputes the stored health of connection `seq` from its row (see the module comment).
fn store_health(tx: &Transaction<'_>, seq: i64) -> StoreResult<()> {
    let (enabled, status): (bool, Option<String>) = tx
        .prepare_cached(
            "SELECT c.enabled, a.status FROM connections c LEFT JOIN authorizations a ON a.connection_seq = c.seq
             WHERE c.seq = ?1",
        )?
        .query_row([seq], |row| Ok((row.get(0)?, row.get(1)?)))?;
    let health = derived_health(enabled, status.as_deref().map(AuthorizationStatus::parse).as_ref());
    tx.prepare_cached("UPDATE connections SET health = ?1, updated_at = ?2 WHERE seq = ?3")?.execute(params![
        health.rank(),
        now_text(),
        seq
    ])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use crate::model::AuthorizationStatus;
    use crate::server::seed;
    use crate::server::store::{ProviderFailure, Store};

    /// An active authorization that still carries a flow's leftovers (seeded so) and a note of
    /// an earlier transient failure.
    const SEED: &str = r#"{
        "connectors": [{"slug": "crm", "name": "CRM"}],
        "contexts": [{"external_id": "u1"}],
        "connections": [{"id": "c1", "context": "u1", "connector": "crm", "authorization": {
            "status": "active", "access_token": "at-1", "refresh_token": "rt-1",
            "authorize_url": "https://provider.example/authorize?state=old", "state": "old",
            "refresh_error": "the provider timed out"
        }}]
    }"#;

    /// A permanent failure, whether of a refresh or of a catalog authorization, goes through the
    /// one UPDATE: `error` with the provider's words, no credential, no flow, no stale note.
    #[tokio::test]
    async fn a_permanent_refresh_failure_leaves_no_credential_flow_or_stale_note() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
        store.import(seed::parse(SEED, "test seed").unwrap()).await.unwrap();
        let failure = ProviderFailure { code: "invalid_grant".into(), message: "the grant was revoked".into() };

        assert!(store.fail_refresh("c1".into(), SecretString::from("rt-1"), failure).await.unwrap());

        let authorization = store.connection_by_id("c1".into()).await.unwrap().authorization.unwrap();
        assert_eq!(authorization.status, AuthorizationStatus::Error);
        assert_eq!(authorization.error_code.as_deref(), Some("invalid_grant"));
        assert_eq!(authorization.error_message.as_deref(), Some("the grant was revoked"));
        assert_eq!(authorization.access_token, None);
        assert_eq!(authorization.authorize_url, None);
        assert_eq!(authorization.state, None);
        assert_eq!(authorization.refresh_error, None);
        assert!(store.refresh_state("c1".into()).await.unwrap().refresh_token.is_none());
    }
}
