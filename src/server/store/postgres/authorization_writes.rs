//! What every PostgreSQL write of an authorization shares (SQLite's twins are the private
//! helpers of `store/authorizations.rs`): the connection's row locked first, the guarded
//! UPDATE, the stored health recomputed with the model's one definition.
//!
//! Lock order. Every write of one connection's authorization first locks the connection's row
//! (`FOR NO KEY UPDATE`: it still lets the foreign-key checks of `refresh_claims` and
//! `oauth_flows` through), then writes the authorization, and only then do the triggers take the
//! events lock. Two nodes writing the same connection at once therefore queue on that row
//! instead of each holding a lock the other waits for (a deadlock PostgreSQL would break by
//! failing one of them). SQLite needs none of this: its one writer runs one transaction at a time.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::connection_reads::now;
use crate::model::AuthorizationStatus;
use crate::server::store::authorizations::ProviderFailure;
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::sql::derived_health;

/// Locks connection `id`'s row until the transaction ends; its seq, or `NotFound`.
pub(super) async fn lock_connection(tx: &Transaction<'_>, id: &str) -> StoreResult<i64> {
    let statement = tx.prepare_cached("SELECT seq FROM connections WHERE id = $1 FOR NO KEY UPDATE").await?;
    tx.query_opt(&statement, &[&id])
        .await?
        .map(|row| row.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("no connection with id {id:?}")))
}

/// Locks the row of connection `seq` (found by another key); false if it is gone.
pub(super) async fn lock_connection_seq(tx: &Transaction<'_>, seq: i64) -> StoreResult<bool> {
    let statement = tx.prepare_cached("SELECT 1 FROM connections WHERE seq = $1 FOR NO KEY UPDATE").await?;
    Ok(tx.query_opt(&statement, &[&seq]).await?.is_some())
}

/// Runs `sql`, an `UPDATE authorizations ... WHERE connection_seq = $1 AND <guard>`, on the
/// authorization of connection `id` (`$1` is its row, `values` fill `$2` onwards), then
/// recomputes the stored health. True when the guard let the update through: the guard is the
/// compare-and-set that keeps a late answer from overwriting a newer authorization, on any node.
pub(super) async fn update_authorization(
    tx: &Transaction<'_>,
    id: &str,
    sql: &str,
    values: &[&(dyn ToSql + Sync)],
) -> StoreResult<bool> {
    let seq = lock_connection(tx, id).await?;
    let mut bound: Vec<&(dyn ToSql + Sync)> = vec![&seq];
    bound.extend_from_slice(values);
    let statement = tx.prepare_cached(sql).await?;
    let changed = tx.execute(&statement, &bound).await?;
    store_health(tx, seq).await?;
    Ok(changed > 0)
}

/// What a failure's UPDATE still requires of the authorization.
#[derive(Debug, Clone, Copy)]
pub(super) enum FailureGuard {
    /// A refresh's: still active with the refresh token it used.
    RefreshToken,
    /// A catalog flow's: still waiting for the flow's `state`.
    State,
}

/// Puts an authorization in `error` with the provider's `failure`, without any credential or
/// flow in progress, when `guard` (bound to `guarded`) still holds (SQLite: `fail_with`).
pub(super) async fn fail_with(
    tx: &Transaction<'_>,
    id: &str,
    failure: &ProviderFailure,
    guard: FailureGuard,
    guarded: &str,
) -> StoreResult<bool> {
    let guard = match guard {
        FailureGuard::RefreshToken => "status = 'active' AND refresh_token = $5",
        FailureGuard::State => "state = $5",
    };
    let sql = format!(
        "UPDATE authorizations SET status = 'error', error_code = $2, error_message = $3, access_token = NULL,
             refresh_token = NULL, expires_at = NULL, refresh_error = NULL, authorize_url = NULL, state = NULL,
             updated_at = $4
         WHERE connection_seq = $1 AND {guard}"
    );
    update_authorization(tx, id, &sql, &[&failure.code, &failure.message, &now(), &guarded]).await
}

/// Recomputes the stored health of connection `seq` (whose row the transaction has locked).
pub(super) async fn store_health(tx: &Transaction<'_>, seq: i64) -> StoreResult<()> {
    let statement = tx
        .prepare_cached(
            "SELECT c.enabled, a.status FROM connections c LEFT JOIN authorizations a ON a.connection_seq = c.seq
             WHERE c.seq = $1",
        )
        .await?;
    let row = tx.query_one(&statement, &[&seq]).await?;
    let status: Option<&str> = row.try_get(1)?;
    let health = derived_health(row.try_get(0)?, status.map(AuthorizationStatus::parse).as_ref());
    let statement = tx.prepare_cached("UPDATE connections SET health = $1, updated_at = $2 WHERE seq = $3").await?;
    tx.execute(&statement, &[&(health.rank() as i64), &now(), &seq]).await?;
    Ok(())
}
