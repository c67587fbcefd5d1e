//! The bulk listing as one stream (`GET /connections` with `Accept: application/x-ndjson`):
//! read from the database in chunks on a read connection of the stream's own, handed to the
//! response through a small channel, so memory on the server holds a couple of chunks whatever
//! the platform's size.
//!
//! A stream never borrows the pool's readers (pages and single reads stay as fast during an
//! export). At most [`MAX_EXPORTS`] run at once; a client that stops reading stalls its own
//! stream only, which gives up after [`STALLED_EXPORT`].

use std::time::Duration;

use rusqlite::Connection as Db;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use super::connections;
use super::error::StoreResult;
use crate::model::{Connection, ConnectionFilter};

/// Exports running at once; one more is refused (503) rather than queued behind them.
pub const MAX_EXPORTS: usize = 4;

/// How long a chunk waits for a client that has stopped reading before the export ends.
pub const STALLED_EXPORT: Duration = Duration::from_secs(30);

/// Chunks read ahead of the client.
const READ_AHEAD: usize = 2;

/// A running export: its chunks, in listing order. The stream's end is `None` after the last
/// chunk; a failure is its last item.
pub struct Export {
    receiver: mpsc::Receiver<StoreResult<Vec<Connection>>>,
}

impl Export {
    pub async fn next_chunk(&mut self) -> Option<StoreResult<Vec<Connection>>> {
        self.receiver.recv().await
    }
}

/// Starts reading on `db`, holding `permit` until the export ends. Call within a tokio runtime.
pub(super) fn start(db: Db, permit: OwnedSemaphorePermit, filter: ConnectionFilter, chunk: usize) -> Export {
    let (sender, receiver) = mpsc::channel(READ_AHEAD);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let delivered = connections::export(&db, &filter, chunk, |batch| {
            // Fails when the response was dropped (the client went away) or stalled too long.
            runtime.block_on(sender.send_timeout(Ok(batch), STALLED_EXPORT)).is_ok()
        });
        if let Err(error) = delivered {
            let _ = sender.blocking_send(Err(error));
        }
    });
    Export { receiver }
}
