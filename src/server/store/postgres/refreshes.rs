//! Refreshes on PostgreSQL (SQLite's: `store/authorizations.rs` and `store/refresh_schedule.rs`):
//! what a refresh reads, its results saved only while the refresh token it used is still the
//! stored one, the claims that make a refresh single flight across nodes, and what the
//! proactive scheduler finds due.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use secrecy::{ExposeSecret as _, SecretString};

use super::authorization_writes::{FailureGuard, fail_with, update_authorization};
use super::connection_reads::{connector_oauth, limit_of, now, to_second};
use crate::model::AuthorizationStatus;
use crate::server::store::authorizations::{IssuedTokens, ProviderFailure, RefreshState};
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::sql::timestamp_text;

pub(super) async fn refresh_state(db: &impl GenericClient, id: &str) -> StoreResult<RefreshState> {
    let statement = db
        .prepare_cached(
            "SELECT c.enabled, c.connector_slug, a.status, a.refresh_token, a.expires_at, a.last_refreshed_at,
                 a.updated_at,
                 CASE WHEN a.refresh_error IS NOT NULL THEN
                     (SELECT (e.payload->>'retry_at')::timestamptz FROM events e
                      WHERE e.connection_id = c.id AND e.event_type = 'connection.refresh_failed'
                      ORDER BY e.seq DESC LIMIT 1)
                 END
             FROM connections c LEFT JOIN authorizations a ON a.connection_seq = c.seq WHERE c.id = $1",
        )
        .await?;
    let row = db
        .query_opt(&statement, &[&id])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no connection with id {id:?}")))?;
    let slug: String = row.try_get(1)?;
    Ok(RefreshState {
        connection_id: id.to_owned(),
        enabled: row.try_get(0)?,
        status: row.try_get::<_, Option<&str>>(2)?.map(AuthorizationStatus::parse).unwrap_or_default(),
        refresh_token: row.try_get::<_, Option<String>>(3)?.filter(|token| !token.is_empty()).map(SecretString::from),
        expires_at: row.try_get(4)?,
        last_refreshed_at: row.try_get(5)?,
        updated_at: row.try_get(6)?,
        oauth: connector_oauth(db, &slug).await?,
        retry_at: row.try_get(7)?,
    })
}

/// Saves a refresh's tokens if `used` is still the stored refresh token; false otherwise.
pub(super) async fn save_refreshed(
    tx: &Transaction<'_>,
    id: &str,
    used: &SecretString,
    tokens: &IssuedTokens,
) -> StoreResult<bool> {
    let saved = update_authorization(
        tx,
        id,
        "UPDATE authorizations SET access_token = $2, refresh_token = COALESCE($3, refresh_token),
             expires_at = $4, last_refreshed_at = $5, refresh_error = NULL, updated_at = $5
         WHERE connection_seq = $1 AND status = 'active' AND refresh_token = $6",
        &[
            &tokens.access_token.expose_secret(),
            &tokens.refresh_token.as_ref().map(|token| token.expose_secret()),
            &to_second(tokens.expires_at),
            &now(),
            &used.expose_secret(),
        ],
    )
    .await?;
    release_refresh_claim(tx, id).await?;
    Ok(saved)
}

/// A permanent refresh failure: `error` with the provider's words and no credential, if `used`
/// is still the stored refresh token; false otherwise.
pub(super) async fn fail_refresh(
    tx: &Transaction<'_>,
    id: &str,
    used: &SecretString,
    failure: &ProviderFailure,
) -> StoreResult<bool> {
    let failed = fail_with(tx, id, failure, FailureGuard::RefreshToken, used.expose_secret()).await?;
    release_refresh_claim(tx, id).await?;
    Ok(failed)
}

/// A transient refresh failure: remembered for the operator, the authorization is unchanged; its
/// `connection.refresh_failed` event (the trigger's) gets `retry_at`.
pub(super) async fn record_refresh_error(
    tx: &Transaction<'_>,
    id: &str,
    message: &str,
    retry_at: DateTime<Utc>,
) -> StoreResult<()> {
    let sql = "UPDATE authorizations SET refresh_error = $2, updated_at = $3 WHERE connection_seq = $1";
    update_authorization(tx, id, sql, &[&message, &now()]).await?;
    release_refresh_claim(tx, id).await?;
    // SQLite takes the newest event; here other nodes write events too, so the event must be
    // this transaction's own (`xmin`), the newest of the connection's.
    let statement = tx
        .prepare_cached(
            "UPDATE events SET payload = payload || jsonb_build_object('retry_at', $2::text)
             WHERE seq = (SELECT MAX(seq) FROM events WHERE connection_id = $1)
               AND event_type = 'connection.refresh_failed' AND xmin = pg_current_xact_id()::xid",
        )
        .await?;
    tx.execute(&statement, &[&id, &timestamp_text(retry_at)]).await?;
    Ok(())
}

/// Claims the next refresh of connection `id` until `until`, if its refresh token and expiry
/// are still `used` and `expires_at` (compared to the second, as SQLite does): the cross-node
/// single flight (see SQLite's `authorizations::claim_refresh` for why).
///
/// Chosen: `INSERT ... ON CONFLICT DO UPDATE ... WHERE until <= now`. Two nodes inserting the
/// same connection's claim at once meet on the primary key: the second waits for the first to
/// commit, then sees its unexpired claim and changes nothing, so exactly one gets true; a claim
/// whose lease ran out (its node died) is taken over by the update. The authorization row is
/// read `FOR SHARE`: a claim racing with a save of the same connection waits for the save to
/// commit and then checks the refresh token against the saved row, not against the statement's
/// older snapshot (the save writes the authorization before it ends its claim, the same order as
/// here, so neither waits for the other's second lock).
pub(super) async fn claim_refresh(
    tx: &Transaction<'_>,
    id: &str,
    used: &SecretString,
    expires_at: Option<DateTime<Utc>>,
    until: DateTime<Utc>,
) -> StoreResult<bool> {
    let statement = tx
        .prepare_cached(
            "WITH current AS (
                 SELECT a.connection_seq FROM connections c JOIN authorizations a ON a.connection_seq = c.seq
                 WHERE c.id = $1 AND a.refresh_token = $4
                     AND date_trunc('second', a.expires_at) IS NOT DISTINCT FROM date_trunc('second', $5::timestamptz)
                 FOR SHARE OF a
             )
             INSERT INTO refresh_claims (connection_seq, until) SELECT connection_seq, $2 FROM current
             ON CONFLICT (connection_seq) DO UPDATE SET until = excluded.until WHERE refresh_claims.until <= $3",
        )
        .await?;
    let claimed = tx.execute(&statement, &[&id, &to_second(until), &now(), &used.expose_secret(), &expires_at]).await?;
    Ok(claimed == 1)
}

/// Ends the claim of the refresh whose result the transaction saves.
async fn release_refresh_claim(tx: &Transaction<'_>, id: &str) -> StoreResult<()> {
    let statement = tx
        .prepare_cached("DELETE FROM refresh_claims WHERE connection_seq = (SELECT seq FROM connections WHERE id = $1)")
        .await?;
    tx.execute(&statement, &[&id]).await?;
    Ok(())
}

/// The rows a refresh can work on (SQLite: `refresh_schedule::refreshable`): active, holding a
/// refresh token, of an enabled connection whose connector has a token endpoint. The first two
/// terms are the partial indexes' own predicate, so the planner can use them.
const REFRESHABLE: &str = "FROM authorizations a JOIN connections c ON c.seq = a.connection_seq
         JOIN connectors k ON k.slug = c.connector_slug
     WHERE a.status = 'active' AND a.refresh_token <> '' AND c.enabled AND k.oauth_token_url IS NOT NULL";

/// Connection ids due for a refresh, most urgent first, at most `limit` (SQLite:
/// `refresh_schedule::due`, the same two queries; ties go by the authorization's row id, the
/// order SQLite's index walks them in).
pub(super) async fn due(
    db: &impl GenericClient,
    now: DateTime<Utc>,
    margin: chrono::Duration,
    idle_before: DateTime<Utc>,
    limit: usize,
) -> StoreResult<Vec<String>> {
    // SQLite compares whole seconds (stored text, `unixepoch`); so does this.
    let horizon = to_second(now.checked_add_signed(margin).unwrap_or(DateTime::<Utc>::MAX_UTC));
    let now = to_second(now);
    let limit = limit_of(limit);
    // expires_at + last_refreshed_at <= 2 * now: at least half of the token's lifetime gone.
    let expiring = db
        .prepare_cached(&format!(
            "SELECT c.id {REFRESHABLE} AND a.expires_at <= $1
               AND (a.last_refreshed_at IS NULL OR a.expires_at - $2::timestamptz <= $2::timestamptz - a.last_refreshed_at)
             ORDER BY a.expires_at, a.id LIMIT $3"
        ))
        .await?;
    let idle = db
        .prepare_cached(&format!(
            "SELECT c.id {REFRESHABLE} AND COALESCE(a.last_refreshed_at, a.updated_at) <= $1
             ORDER BY COALESCE(a.last_refreshed_at, a.updated_at), a.id LIMIT $2"
        ))
        .await?;
    let mut ids: Vec<String> =
        db.query(&expiring, &[&horizon, &now, &limit]).await?.iter().map(|row| row.get(0)).collect();
    let idle = db.query(&idle, &[&to_second(idle_before), &limit]).await?;
    let expiring: HashSet<String> = ids.iter().cloned().collect();
    ids.extend(idle.iter().map(|row| row.get::<_, String>(0)).filter(|id| !expiring.contains(id)));
    ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok(ids)
}
