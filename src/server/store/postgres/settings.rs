//! The per-transaction settings the schema's triggers read (`schema.rs`), as SQLite's TEMP
//! flag tables are set: each lasts until its transaction ends, so a rollback takes it along.

use deadpool_postgres::Transaction;

use super::super::error::StoreResult;

async fn set(tx: &Transaction<'_>, setting: &str, value: &str) -> StoreResult<()> {
    let statement = tx.prepare_cached("SELECT set_config($1, $2, true)").await?;
    tx.execute(&statement, &[&setting, &value]).await?;
    Ok(())
}

/// The actor of the transaction's events (`PgStore::write` sets it).
pub async fn act_as(tx: &Transaction<'_>, actor: Option<&str>) -> StoreResult<()> {
    set(tx, "xkit.actor", actor.unwrap_or_default()).await
}

/// A bulk import starts: no per-row events nor status notes until [`note_rows`] (SQLite:
/// `events::quiet_rows`); the import writes its one `platform.imported` event itself.
pub async fn quiet_rows(tx: &Transaction<'_>) -> StoreResult<()> {
    set(tx, "xkit.quiet_rows", "on").await
}

/// Ends [`quiet_rows`].
pub async fn note_rows(tx: &Transaction<'_>) -> StoreResult<()> {
    set(tx, "xkit.quiet_rows", "").await
}

/// Stops counting row by row until [`resume_and_recount`] (SQLite: `counters::pause`).
pub async fn pause_counters(tx: &Transaction<'_>) -> StoreResult<()> {
    set(tx, "xkit.counters_paused", "on").await
}

/// Counts row by row again, after counting every counter from the tables once.
pub async fn resume_and_recount(tx: &Transaction<'_>) -> StoreResult<()> {
    set(tx, "xkit.counters_paused", "").await?;
    tx.execute("SELECT xkit_recount()", &[]).await?;
    Ok(())
}
