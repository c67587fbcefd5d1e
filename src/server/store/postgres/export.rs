//! The NDJSON export on PostgreSQL (SQLite's: `store/export.rs`): the same chunks of encoded
//! lines, at most [`MAX_EXPORTS`](crate::server::store::export::MAX_EXPORTS) at once, ended by a
//! reader stalled for [`STALLED_EXPORT`].
//!
//! Chosen: keyset-paged chunk queries (`c.seq > last ORDER BY c.seq LIMIT chunk`), each on a
//! pooled connection taken for that query only, rather than one transaction and cursor held for
//! the whole export. A slow or stalled reader then holds no connection of the pool (which every
//! request shares), and a long export holds no snapshot that would keep vacuum from cleaning.
//! The price: the lines are not one snapshot. Each connection still appears once at most, in seq
//! order; one changed during the export appears as it was when its chunk was read, one added
//! meanwhile appears if its seq is past the chunk being read, one removed may be missing.

use tokio::sync::OwnedSemaphorePermit;

use super::PgStore;
use super::connection_reads::{Columns, ConnectionQuery};
use crate::model::ConnectionFilter;
use crate::server::store::error::StoreResult;
use crate::server::store::export::{Export, LineEncoder, STALLED_EXPORT};

/// Starts the export's task, which holds `permit` until it ends. Call within a tokio runtime.
pub(super) fn start(
    store: PgStore,
    permit: OwnedSemaphorePermit,
    filter: ConnectionFilter,
    chunk: usize,
    encode: LineEncoder,
) -> Export {
    let (sender, export) = Export::channel();
    tokio::spawn(async move {
        let _permit = permit;
        let query = ConnectionQuery::new(&filter, Columns::Export);
        let chunk = chunk.max(1);
        let mut after = 0;
        let mut capacity = 0;
        loop {
            let (lines, last) = match read_chunk(&store, &query, &mut after, chunk, encode, capacity).await {
                Ok(Some(read)) => read,
                Ok(None) => return,
                Err(error) => {
                    let _ = sender.send_timeout(Err(error), STALLED_EXPORT).await;
                    return;
                }
            };
            // The next chunk is about as long as this one: one allocation each.
            capacity = lines.len() + lines.len() / 8;
            // Fails when the response was dropped (the client went away) or stalled too long.
            if sender.send_timeout(Ok(lines), STALLED_EXPORT).await.is_err() || last {
                return;
            }
        }
    });
    export
}

/// Reads and encodes the chunk after seq `after` (moved to its last row): its lines, and
/// whether it is the last (shorter than a chunk); `None` past the end.
async fn read_chunk(
    store: &PgStore,
    query: &ConnectionQuery,
    after: &mut i64,
    chunk: usize,
    encode: LineEncoder,
    capacity: usize,
) -> StoreResult<Option<(Vec<u8>, bool)>> {
    // The pooled connection goes back before the chunk is handed to a possibly slow reader.
    let rows = query.rows(&store.client().await?, *after, chunk).await?;
    let Some((last, _)) = rows.last() else { return Ok(None) };
    *after = *last;
    let mut lines = Vec::with_capacity(capacity);
    for (_, connection) in &rows {
        encode(connection, &mut lines).map_err(anyhow::Error::from)?;
    }
    Ok(Some((lines, rows.len() < chunk)))
}
