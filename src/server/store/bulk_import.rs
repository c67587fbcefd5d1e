//! Large imports (`serve --demo-scale 1000000`, big seed files) into a platform they at least
//! double: the secondary indexes of the tables the import fills are dropped first and built
//! once at the end (one sort each instead of a million index inserts, each of which wants its
//! pages in a 2 MB page cache). All of it inside the import's transaction: a failure rolls the
//! indexes back with the rows. (A larger page cache meanwhile was measured and not kept: no
//! faster at 1,000,000, slower index builds, far more memory.)

use rusqlite::Transaction;

use super::error::StoreResult;

/// The tables an import fills, whose secondary indexes wait for its end.
const FILLED_TABLES: &str = "'contexts', 'connections', 'authorizations', 'events', 'sandbox_grants'";

/// The statements of the dropped indexes, for [`finish`] to build them again.
pub(super) struct Deferred {
    indexes: Vec<String>,
}

/// True when an import of `connections` rows at least doubles the connections table.
pub(super) fn worth_deferring(tx: &Transaction<'_>, connections: usize) -> StoreResult<bool> {
    let stored: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM connections", [], |row| row.get(0))?;
    Ok(connections as i64 >= stored)
}

/// Drops the secondary indexes of the filled tables, keeping their statements. Unique
/// constraints stay: the import relies on them.
pub(super) fn start(tx: &Transaction<'_>) -> StoreResult<Deferred> {
    let indexes = tx
        .prepare(&format!(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({FILLED_TABLES})"
        ))?
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for (name, _) in &indexes {
        tx.execute_batch(&format!("DROP INDEX \"{name}\""))?;
    }
    Ok(Deferred { indexes: indexes.into_iter().map(|(_, sql)| sql).collect() })
}

/// Builds the dropped indexes.
pub(super) fn finish(tx: &Transaction<'_>, deferred: Deferred) -> StoreResult<()> {
    for sql in &deferred.indexes {
        tx.execute_batch(sql)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{PlatformStore as _, SqliteStore};

    fn indexes(store: &SqliteStore) -> Vec<(String, String)> {
        let db = store.writer();
        db.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name")
            .unwrap()
            .query_map([], |row| Ok((row.get(0).unwrap(), row.get(1).unwrap())))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    /// A large import into an empty platform drops and rebuilds the secondary indexes: they are
    /// all back, as they were, and the listings that seek them still answer.
    #[tokio::test]
    async fn a_large_import_leaves_every_index_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("platform.sqlite3"), 1).unwrap();
        let before = indexes(&store);
        assert!(before.iter().any(|(name, _)| name == "connections_by_health"));
        let connections = super::super::counters::BULK_IMPORT;
        store.import(crate::server::scale::batch(connections).unwrap()).await.unwrap();
        assert_eq!(indexes(&store), before);
    }
}
