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
use super::events;
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
    writer.execute_batch(events::FLAG_TABLE)?;
    // A bulk import's rows are not announced one by one (see `events::quiet_rows`).
    writer.execute_batch(&format!(
        "CREATE TEMP TABLE IF NOT EXISTS changed_authorizations (id INTEGER NOT NULL);
         CREATE TEMP TRIGGER IF NOT EXISTS authorization_added AFTER INSERT ON main.authorizations
         WHEN {rows_noted}
         BEGIN INSERT INTO changed_authorizations (id) VALUES (NEW.id); END;
         CREATE TEMP TRIGGER IF NOT EXISTS authorization_status_changed
         AFTER UPDATE OF status ON main.authorizations WHEN OLD.status IS NOT NEW.status
         BEGIN INSERT INTO changed_authorizations (id) VALUES (NEW.id); END;",
        rows_noted = events::ROWS_NOTED
    ))
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

#[cfg(test)]
mod tests {
    use tokio::sync::broadcast::error::TryRecvError;

    use crate::model::AuthorizationStatus;
    use crate::server::seed;
    use crate::server::store::{NewFlow, ProviderFailure, Store};

    const SEED: &str = r#"{
        "connectors": [{"slug": "crm", "name": "CRM"}],
        "contexts": [{"external_id": "u1"}],
        "connections": [{"id": "c1", "context": "u1", "connector": "crm", "authorization": {
            "status": "active", "access_token": "at-1", "refresh_token": "rt-1"
        }}]
    }"#;

    /// Only committed status changes are announced, each once, with the authorization's context;
    /// a write that changes a status and then fails (rolled back) announces nothing, and a write
    /// that leaves the status as it was announces nothing either.
    #[tokio::test]
    async fn committed_status_changes_are_announced_and_rolled_back_ones_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
        store.import(seed::parse(SEED, "test seed").unwrap()).await.unwrap();
        let mut changes = store.subscribe_status_changes();

        // A spent-or-unknown repair link fails the transaction after the status changed in it.
        let refused = store.begin_authorization(
            "u1".into(),
            "crm".into(),
            Some("c1".into()),
            NewFlow::for_test("s0"),
            Some([7; 32]),
        );
        assert!(refused.await.is_err());
        assert_eq!(changes.try_recv().unwrap_err(), TryRecvError::Empty, "a rolled-back change is not announced");
        assert_eq!(
            store.connection_by_id("c1".into()).await.unwrap().authorization.unwrap().status,
            AuthorizationStatus::Active
        );

        store
            .begin_authorization("u1".into(), "crm".into(), Some("c1".into()), NewFlow::for_test("s1"), None)
            .await
            .unwrap();
        let announced = changes.try_recv().expect("the committed change");
        assert_eq!((announced.external_id.as_str(), &announced.status), ("u1", &AuthorizationStatus::AwaitingCallback));
        assert_eq!(store.authorization_status(announced.authorization_id).await.unwrap(), announced);

        // Started again: still awaiting_callback, so nothing to announce.
        store
            .begin_authorization("u1".into(), "crm".into(), Some("c1".into()), NewFlow::for_test("s2"), None)
            .await
            .unwrap();
        assert_eq!(changes.try_recv().unwrap_err(), TryRecvError::Empty);

        let failure = ProviderFailure { code: "access_denied".into(), message: "denied".into() };
        assert!(store.fail_authorization("c1".into(), "s2".into(), failure).await.unwrap());
        assert_eq!(changes.try_recv().unwrap().status, AuthorizationStatus::Error);
        assert_eq!(changes.try_recv().unwrap_err(), TryRecvError::Empty, "each change once");
    }
}
