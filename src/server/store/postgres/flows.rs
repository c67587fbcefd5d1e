//! Authorization flows on PostgreSQL (SQLite's: `store/authorizations.rs` and
//! `store/client_api.rs`): the catalog's and xkit.js's OAuth flows, field authorizations,
//! repair links and one-time tokens.
//!
//! Everything single use is spent by one statement that only one transaction can win, whichever
//! node runs it: a flow's `state` by `DELETE ... RETURNING` (a second taker waits for the first
//! to commit and then finds no row), a one-time token the same way, a repair link by a
//! conditional `UPDATE ... WHERE used_at IS NULL` (re-checked on the newest row after the wait),
//! a field authorization's `state` by a conditional `UPDATE ... WHERE state = $ AND status =
//! 'awaiting_callback'`.

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use secrecy::{ExposeSecret as _, SecretString};

use super::authorization_writes::{lock_connection_seq, store_health, update_authorization};
use super::connection_reads::{connector, connector_oauth, context_row_id, now, to_second};
use crate::server::store::authorizations::{Claim, IssuedTokens, NewFlow, RepairGrant, ReturningFlow};
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::sql::derived_health;

/// Starts a catalog authorization (SQLite: `authorizations::begin_authorization`, the same
/// steps): the connection becomes `awaiting_callback` with the flow's `state`, older flows of it
/// stop counting, and the repair link that opened the page is spent last, so any refusal (a
/// link already spent or expired: `Conflict`) rolls the whole transaction back.
pub(super) async fn begin_authorization(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    connection_id: Option<&str>,
    flow: &NewFlow,
    repair_token: Option<&[u8; 32]>,
    claim: Claim,
) -> StoreResult<String> {
    let (seq, id) = claim_connection(tx, external_id, slug, connection_id, claim).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO authorizations (connection_seq, status, authorize_url, state, updated_at)
             VALUES ($1, 'awaiting_callback', $2, $3, $4)
             ON CONFLICT (connection_seq) DO UPDATE SET status = 'awaiting_callback',
                 authorize_url = excluded.authorize_url, state = excluded.state, error_code = NULL,
                 error_message = NULL, access_token = NULL, refresh_token = NULL, expires_at = NULL,
                 refresh_error = NULL, updated_at = excluded.updated_at",
        )
        .await?;
    tx.execute(&statement, &[&seq, &flow.authorize_url, &flow.state, &now()]).await?;
    forget_flows(tx, seq).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO oauth_flows (state, connection_seq, pkce_verifier, redirect_uri, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await?;
    let verifier = flow.pkce_verifier.expose_secret();
    tx.execute(&statement, &[&flow.state, &seq, &verifier, &flow.redirect_uri, &to_second(flow.expires_at)]).await?;
    store_health(tx, seq).await?;
    if let Some(token_sha256) = repair_token
        && !use_repair_token(tx, token_sha256).await?
    {
        return Err(StoreError::Conflict("this repair link has already been used or has expired".into()));
    }
    Ok(id)
}

/// The connection an authorization starts on (SQLite: `authorizations::claim_connection`): the
/// context's connection `connection_id` to `slug` (enabled again), a new one under that id when
/// `claim` allows and no connection has it, or a new one with a fresh id. Its row (locked for
/// the transaction) and id.
async fn claim_connection(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    connection_id: Option<&str>,
    claim: Claim,
) -> StoreResult<(i64, String)> {
    let context_id = context_row_id(tx, external_id).await?;
    connector(tx, slug).await?;
    let not_found =
        |id: &str| StoreError::NotFound(format!("context {external_id:?} has no connection {id:?} to {slug:?}"));
    let new_id = match connection_id {
        Some(id) => {
            if let Some(seq) = reuse_connection(tx, id, context_id, slug).await? {
                return Ok((seq, id.to_owned()));
            }
            // Another context's connection is not told apart from a missing one.
            if claim == Claim::ExistingOnly || id_taken(tx, id).await? {
                return Err(not_found(id));
            }
            id.to_owned()
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let statement = tx
        .prepare_cached(
            "INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
             VALUES ($1, $2, $3, TRUE, $4, $5, $5) ON CONFLICT (id) DO NOTHING RETURNING seq",
        )
        .await?;
    let health = derived_health(true, None).rank() as i64;
    if let Some(row) = tx.query_opt(&statement, &[&new_id, &context_id, &slug, &health, &now()]).await? {
        return Ok((row.get(0), new_id));
    }
    // Another node created a connection under this id since we looked (the insert waited for it
    // to commit): it is the one to reuse if it is this context's connection to this connector.
    match reuse_connection(tx, &new_id, context_id, slug).await? {
        Some(seq) => Ok((seq, new_id)),
        None => Err(not_found(&new_id)),
    }
}

/// The context's connection `id` to `slug`, locked and enabled again; `None` if there is none.
async fn reuse_connection(tx: &Transaction<'_>, id: &str, context_id: i64, slug: &str) -> StoreResult<Option<i64>> {
    let statement = tx
        .prepare_cached(
            "SELECT seq FROM connections WHERE id = $1 AND context_id = $2 AND connector_slug = $3 FOR NO KEY UPDATE",
        )
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&id, &context_id, &slug]).await? else { return Ok(None) };
    let seq: i64 = row.get(0);
    let statement = tx.prepare_cached("UPDATE connections SET enabled = TRUE WHERE seq = $1").await?;
    tx.execute(&statement, &[&seq]).await?;
    Ok(Some(seq))
}

async fn id_taken(tx: &Transaction<'_>, id: &str) -> StoreResult<bool> {
    let statement = tx.prepare_cached("SELECT 1 FROM connections WHERE id = $1").await?;
    Ok(tx.query_opt(&statement, &[&id]).await?.is_some())
}

async fn forget_flows(tx: &Transaction<'_>, seq: i64) -> StoreResult<()> {
    let statement = tx.prepare_cached("DELETE FROM oauth_flows WHERE connection_seq = $1").await?;
    tx.execute(&statement, &[&seq]).await?;
    Ok(())
}

/// Starts a field authorization (API keys): `awaiting_callback` with `state`, which
/// [`submit_fields`] must present. The connection id.
pub(super) async fn begin_field_authorization(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    connection_id: Option<&str>,
    state: &str,
) -> StoreResult<String> {
    let (seq, id) = claim_connection(tx, external_id, slug, connection_id, Claim::CreateMissing).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO authorizations (connection_seq, status, state, updated_at) VALUES ($1, 'awaiting_callback', $2, $3)
             ON CONFLICT (connection_seq) DO UPDATE SET status = 'awaiting_callback', authorize_url = NULL,
                 state = excluded.state, error_code = NULL, error_message = NULL, access_token = NULL,
                 refresh_token = NULL, expires_at = NULL, refresh_error = NULL, updated_at = excluded.updated_at",
        )
        .await?;
    tx.execute(&statement, &[&seq, &state, &now()]).await?;
    forget_flows(tx, seq).await?;
    store_health(tx, seq).await?;
    Ok(id)
}

/// The fields arrived: the context's authorization to `slug` waiting with `state` becomes
/// `active` with `credential`. The connection id, or `None` when none waits with that state
/// (also when another node's submit of the same state won).
pub(super) async fn submit_fields(
    tx: &Transaction<'_>,
    external_id: &str,
    slug: &str,
    state: &str,
    credential: &str,
) -> StoreResult<Option<String>> {
    let statement = tx
        .prepare_cached(
            "SELECT c.seq, c.id FROM connections c JOIN contexts x ON x.id = c.context_id
                 JOIN authorizations a ON a.connection_seq = c.seq
             WHERE x.external_id = $1 AND c.connector_slug = $2 AND a.state = $3 AND a.status = 'awaiting_callback'",
        )
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&external_id, &slug, &state]).await? else { return Ok(None) };
    let (seq, id): (i64, String) = (row.get(0), row.get(1));
    if !lock_connection_seq(tx, seq).await? {
        return Ok(None);
    }
    let statement = tx
        .prepare_cached(
            "UPDATE authorizations SET status = 'active', access_token = $2, state = NULL, last_refreshed_at = $3,
                 updated_at = $3
             WHERE connection_seq = $1 AND state = $4 AND status = 'awaiting_callback'",
        )
        .await?;
    if tx.execute(&statement, &[&seq, &credential, &now(), &state]).await? == 0 {
        return Ok(None);
    }
    store_health(tx, seq).await?;
    Ok(Some(id))
}

pub(super) async fn flow_context(db: &impl GenericClient, state: &str) -> StoreResult<Option<String>> {
    let statement = db
        .prepare_cached(
            "SELECT x.external_id FROM oauth_flows f JOIN connections c ON c.seq = f.connection_seq
             JOIN contexts x ON x.id = c.context_id WHERE f.state = $1",
        )
        .await?;
    Ok(db.query_opt(&statement, &[&state]).await?.map(|row| row.get(0)))
}

/// Takes (deletes) the flow of `state`; while it has not expired and the authorization still
/// waits for it, the authorization moves to `retrieving_tokens`. `None` for an unknown or
/// already used state: of two nodes taking one state at once, one gets the flow.
pub(super) async fn take_flow(tx: &Transaction<'_>, state: &str) -> StoreResult<Option<ReturningFlow>> {
    let statement = tx.prepare_cached("SELECT connection_seq FROM oauth_flows WHERE state = $1").await?;
    let Some(row) = tx.query_opt(&statement, &[&state]).await? else { return Ok(None) };
    // The connection first (the lock order of `authorization_writes.rs`), then the flow.
    if !lock_connection_seq(tx, row.get(0)).await? {
        return Ok(None);
    }
    let statement = tx
        .prepare_cached(
            "DELETE FROM oauth_flows f USING connections c, contexts x
             WHERE f.state = $1 AND c.seq = f.connection_seq AND x.id = c.context_id
             RETURNING f.connection_seq, f.pkce_verifier, f.redirect_uri, f.expires_at, c.id, c.connector_slug,
                 x.external_id",
        )
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&state]).await? else { return Ok(None) };
    let seq: i64 = row.try_get(0)?;
    let expires_at: DateTime<Utc> = row.try_get(3)?;
    if expires_at > Utc::now() {
        let statement = tx
            .prepare_cached(
                "UPDATE authorizations SET status = 'retrieving_tokens', updated_at = $1
                 WHERE connection_seq = $2 AND state = $3",
            )
            .await?;
        tx.execute(&statement, &[&now(), &seq, &state]).await?;
        store_health(tx, seq).await?;
    }
    let connector_slug: String = row.try_get(5)?;
    let oauth = connector_oauth(tx, &connector_slug).await?;
    Ok(Some(ReturningFlow {
        connection_id: row.try_get(4)?,
        connector_slug,
        external_id: row.try_get(6)?,
        pkce_verifier: SecretString::from(row.try_get::<_, String>(1)?),
        redirect_uri: row.try_get(2)?,
        expires_at,
        oauth,
    }))
}

/// The code exchange succeeded: `active` with the new tokens, if `state` is still current.
pub(super) async fn complete_authorization(
    tx: &Transaction<'_>,
    id: &str,
    state: &str,
    tokens: &IssuedTokens,
) -> StoreResult<bool> {
    update_authorization(
        tx,
        id,
        "UPDATE authorizations SET status = 'active', access_token = $2, refresh_token = $3, expires_at = $4,
             last_refreshed_at = $5, error_code = NULL, error_message = NULL, refresh_error = NULL,
             authorize_url = NULL, state = NULL, updated_at = $5
         WHERE connection_seq = $1 AND state = $6",
        &[
            &tokens.access_token.expose_secret(),
            &tokens.refresh_token.as_ref().map(|token| token.expose_secret()),
            &to_second(tokens.expires_at),
            &now(),
            &state,
        ],
    )
    .await
}

/// Stores (the hash of) a one-time token for a context; expired ones are dropped on the way.
pub(super) async fn add_one_time_token(
    tx: &Transaction<'_>,
    token_sha256: &[u8; 32],
    external_id: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    let context_id = context_row_id(tx, external_id).await?;
    let statement = tx.prepare_cached("DELETE FROM one_time_tokens WHERE expires_at <= $1").await?;
    tx.execute(&statement, &[&now()]).await?;
    let statement = tx
        .prepare_cached("INSERT INTO one_time_tokens (token_sha256, context_id, expires_at) VALUES ($1, $2, $3)")
        .await?;
    tx.execute(&statement, &[&&token_sha256[..], &context_id, &to_second(expires_at)]).await?;
    Ok(())
}

/// Spends a one-time token: its context's `external_id` if it was unexpired, `None` otherwise
/// (unknown, expired, or spent: by one node or another, a token is deleted exactly once).
pub(super) async fn take_one_time_token(tx: &Transaction<'_>, token_sha256: &[u8; 32]) -> StoreResult<Option<String>> {
    let statement = tx
        .prepare_cached(
            "DELETE FROM one_time_tokens t USING contexts x WHERE t.token_sha256 = $1 AND x.id = t.context_id
             RETURNING x.external_id, t.expires_at",
        )
        .await?;
    let Some(row) = tx.query_opt(&statement, &[&&token_sha256[..]]).await? else { return Ok(None) };
    let expires_at: DateTime<Utc> = row.try_get(1)?;
    Ok((expires_at > now()).then(|| row.get(0)))
}

pub(super) async fn add_repair_token(
    tx: &Transaction<'_>,
    token_sha256: &[u8; 32],
    external_id: &str,
    slug: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    let context_id = context_row_id(tx, external_id).await?;
    connector(tx, slug).await?;
    // Expired links are dead weight; dropping them here keeps the table small without a sweeper.
    let statement = tx.prepare_cached("DELETE FROM repair_tokens WHERE expires_at < $1").await?;
    tx.execute(&statement, &[&now()]).await?;
    let statement = tx
        .prepare_cached(
            "INSERT INTO repair_tokens (token_sha256, context_id, connector_slug, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(&statement, &[&&token_sha256[..], &context_id, &slug, &to_second(expires_at)]).await?;
    Ok(())
}

pub(super) async fn repair_grant(db: &impl GenericClient, token_sha256: &[u8; 32]) -> StoreResult<Option<RepairGrant>> {
    let statement = db
        .prepare_cached(
            "SELECT x.external_id, r.connector_slug, r.expires_at, r.used_at IS NOT NULL
             FROM repair_tokens r JOIN contexts x ON x.id = r.context_id WHERE r.token_sha256 = $1",
        )
        .await?;
    let Some(row) = db.query_opt(&statement, &[&&token_sha256[..]]).await? else { return Ok(None) };
    Ok(Some(RepairGrant {
        external_id: row.try_get(0)?,
        connector_slug: row.try_get(1)?,
        expires_at: row.try_get(2)?,
        used: row.try_get(3)?,
    }))
}

/// Marks a repair token used; false if it already was (by any node), or has expired.
async fn use_repair_token(tx: &Transaction<'_>, token_sha256: &[u8; 32]) -> StoreResult<bool> {
    let statement = tx
        .prepare_cached(
            "UPDATE repair_tokens SET used_at = $1 WHERE token_sha256 = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .await?;
    Ok(tx.execute(&statement, &[&now(), &&token_sha256[..]]).await? > 0)
}
