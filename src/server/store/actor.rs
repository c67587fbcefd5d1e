//! Who a write is done for (an API key's publishable part, `catalog`...), recorded as the
//! `actor` of the events the write produces.
//!
//! Handlers run inside [`acting_as`]; [`Store::write`](super::Store) reads the actor from the
//! task and hands it to the writer's triggers through a one-row TEMP table, set in the write's
//! own transaction. The command-line tools' blocking writes are [`CLI`]'s. Writes outside a
//! scope (startup imports, tasks spawned off a request) have none.

use std::future::Future;

use rusqlite::Transaction;

use super::error::StoreResult;

tokio::task_local! {
    static ACTOR: String;
}

/// The actor of the command-line tools' writes (`keys`, `origins`).
pub const CLI: &str = "cli";

/// Runs `future` with every store write in it done for `actor`.
pub async fn acting_as<F: Future>(actor: String, future: F) -> F::Output {
    ACTOR.scope(actor, future).await
}

/// The actor of the task calling, if it runs inside [`acting_as`].
pub(crate) fn current() -> Option<String> {
    ACTOR.try_with(Clone::clone).ok()
}

/// The table the triggers read (`SELECT actor FROM event_actor WHERE id = 1`).
pub(super) const TABLE: &str = "CREATE TEMP TABLE IF NOT EXISTS event_actor (id INTEGER PRIMARY KEY, actor TEXT);";

/// Sets the actor of the transaction's events.
pub(super) fn set(tx: &Transaction<'_>, actor: Option<&str>) -> StoreResult<()> {
    tx.prepare_cached("INSERT OR REPLACE INTO temp.event_actor (id, actor) VALUES (1, ?1)")?.execute([actor])?;
    Ok(())
}
