//! What the Platform User API (xkit.js's routes) needs beyond the Platform API's reads: every
//! function here is scoped to one context, so a context token can never reach another
//! context's rows; a row of another context is answered as if it did not exist.

use chrono::{DateTime, Utc};
use rusqlite::{Connection as Db, OptionalExtension, Transaction, params};

use super::connections::{self, CONNECTION_SELECT, connection_from_row};
use super::contexts;
use super::error::{StoreError, StoreResult};
use super::records::Credentials;
use super::sql::{now_text, timestamp_text};
use crate::model::{Connection, Health};

/// A context's connection `id`, without its credential; `NotFound` when it belongs to
/// another context.
pub(super) fn connection_of_context(db: &Db, external_id: &str, id: &str) -> StoreResult<Connection> {
    let mut statement = db.prepare_cached(&format!("{CONNECTION_SELECT} WHERE c.id = ?1 AND x.external_id = ?2"))?;
    statement
        .query_row(params![id, external_id], |row| connection_from_row(row, Credentials::Omit, false))
        .optional()?
        .map(|(_, connection)| connection)
        .ok_or_else(|| StoreError::NotFound(format!("no connection with id {id:?}")))
}

/// The connection holding authorization `authorization_id` of a context to connector `slug`.
pub(super) fn by_authorization(
    db: &Db,
    external_id: &str,
    slug: &str,
    authorization_id: i64,
) -> StoreResult<Connection> {
    let mut statement = db.prepare_cached(&format!(
        "{CONNECTION_SELECT} WHERE a.id = ?1 AND x.external_id = ?2 AND c.connector_slug = ?3"
    ))?;
    statement
        .query_row(params![authorization_id, external_id, slug], |row| {
            connection_from_row(row, Credentials::Omit, false)
        })
        .optional()?
        .map(|(_, connection)| connection)
        .ok_or_else(|| StoreError::NotFound(format!("no authorization {authorization_id} for {slug:?}")))
}

/// Soft-removes a context's connection `id` and returns it, now disabled.
pub(super) fn disable_by_id(tx: &Transaction<'_>, external_id: &str, id: &str) -> StoreResult<Connection> {
    let context_id = contexts::row_id(tx, external_id)?;
    let changed = tx
        .prepare_cached(
            "UPDATE connections SET enabled = 0, health = ?3, updated_at = ?4 WHERE id = ?1 AND context_id = ?2",
        )?
        .execute(params![id, context_id, Health::Disabled.rank(), now_text()])?;
    if changed == 0 {
        return Err(StoreError::NotFound(format!("no connection with id {id:?}")));
    }
    connection_of_context(tx, external_id, id)
}

/// Stores (the hash of) a one-time token for a context; expired ones are dropped on the way.
pub(super) fn add_one_time_token(
    tx: &Transaction<'_>,
    token_sha256: &[u8; 32],
    external_id: &str,
    expires_at: DateTime<Utc>,
) -> StoreResult<()> {
    let context_id = contexts::row_id(tx, external_id)?;
    tx.prepare_cached("DELETE FROM one_time_tokens WHERE expires_at <= ?1")?.execute([now_text()])?;
    tx.prepare_cached("INSERT INTO one_time_tokens (token_sha256, context_id, expires_at) VALUES (?1, ?2, ?3)")?
        .execute(params![&token_sha256[..], context_id, timestamp_text(expires_at)])?;
    Ok(())
}

/// Spends a one-time token: the `external_id` of its context if it was unspent and unexpired,
/// `None` otherwise. Spent tokens are deleted, so a second use finds nothing.
pub(super) fn take_one_time_token(tx: &Transaction<'_>, token_sha256: &[u8; 32]) -> StoreResult<Option<String>> {
    let external_id = tx
        .prepare_cached(
            "SELECT x.external_id FROM one_time_tokens t JOIN contexts x ON x.id = t.context_id
             WHERE t.token_sha256 = ?1 AND t.expires_at > ?2",
        )?
        .query_row(params![&token_sha256[..], now_text()], |row| row.get::<_, String>(0))
        .optional()?;
    tx.prepare_cached("DELETE FROM one_time_tokens WHERE token_sha256 = ?1")?.execute([&token_sha256[..]])?;
    Ok(external_id)
}

/// The connector's field that becomes the credential, for connectors that collect fields
/// (API keys) instead of an OAuth2 authorization.
pub(super) fn credential_field(db: &Db, slug: &str) -> StoreResult<Option<String>> {
    connections::connector(db, slug)?;
    Ok(db
        .prepare_cached("SELECT credential_field FROM connectors WHERE slug = ?1")?
        .query_row([slug], |row| row.get::<_, Option<String>>(0))?)
}
