//! Authorization status changes, announced once they are committed, so that the realtime socket
//! can push them (xkit.js's `connect()` resolves on that push).
//!
//! The writer connection carries two TEMP triggers that note, in a TEMP table, every
//! authorization inserted or whose `status` changes, whichever code path does it (the catalog
//! flow, a refresh, the client API, an import). [`Store::write`](super::Store) reads and clears
//! the notes inside the transaction and sends them after the commit: a rolled-back transaction
//! rolls its notes back too, so nothing uncommitted is ever announced.

use rusqlite::{Connection as Db, Transaction};

use super::error::StoreResult;
use crate::model::AuthorizationStatus;

/// Changes kept for a subscriber that falls behind; one that lags further re-reads the status.
pub(super) const ANNOUNCED_CHANGES: usize = 1024;

/// One authorization's status, with the context it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationStatusRecord {
    /// The authorization's id (as `authorization.id` in answers).
    pub authorization_id: i64,
    pub external_id: String,
    pub status: AuthorizationStatus,
}

/// Installs the notes (table and triggers) on the writer connection; they live as long as it.
pub(super) fn watch(writer: &Db) -> rusqlite::Result<()> {
    writer.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS changed_authorizations (id INTEGER NOT NULL);
         CREATE TEMP TRIGGER IF NOT EXISTS authorization_added AFTER INSERT ON main.authorizations
         BEGIN INSERT INTO changed_authorizations (id) VALUES (NEW.id); END;
         CREATE TEMP TRIGGER IF NOT EXISTS authorization_status_changed
         AFTER UPDATE OF status ON main.authorizations WHEN OLD.status IS NOT NEW.status
         BEGIN INSERT INTO changed_authorizations (id) VALUES (NEW.id); END;",
    )
}

/// The statuses the transaction changed, as they are now; clears the notes.
pub(super) fn take(tx: &Transaction<'_>) -> StoreResult<Vec<AuthorizationStatusRecord>> {
    let changed = tx
        .prepare_cached(&format!(
            "{SELECT_STATUS} WHERE a.id IN (SELECT id FROM temp.changed_authorizations) ORDER BY a.id"
        ))?
        .query_map([], record_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !changed.is_empty() {
        tx.prepare_cached("DELETE FROM temp.changed_authorizations")?.execute([])?;
    }
    Ok(changed)
}

/// The current status of authorization `id`, `None` when there is no such authorization.
pub(super) fn get(db: &Db, id: i64) -> StoreResult<Option<AuthorizationStatusRecord>> {
    use rusqlite::OptionalExtension as _;
    Ok(db.prepare_cached(&format!("{SELECT_STATUS} WHERE a.id = ?1"))?.query_row([id], record_from_row).optional()?)
}

const SELECT_STATUS: &str = "SELECT a.id, x.external_id, a.status FROM authorizations a
     JOIN connections c ON c.seq = a.connection_seq JOIN contexts x ON x.id = c.context_id";

fn record_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<AuthorizationStatusRecord> {
    Ok(AuthorizationStatusRecord {
        authorization_id: row.get(0)?,
        external_id: row.get(1)?,
        status: AuthorizationStatus::parse(&row.get::<_, String>(2)?),
    })
}
