//! The bulk listing as one stream (`GET /connections` with `Accept: application/x-ndjson`):
//! read from the database in chunks on a read connection of the stream's own, each row encoded
//! as its line on that same blocking thread, the chunk's bytes handed to the response through a
//! small channel, so memory on the server holds a couple of chunks whatever the platform's size,
//! and the runtime's threads only write bytes.
//!
//! A stream never borrows the pool's readers (pages and single reads stay as fast during an
//! export). At most [`MAX_EXPORTS`] run at once; a client that stops reading stalls its own
//! stream only, which gives up after [`STALLED_EXPORT`].

use std::sync::Arc;
use std::time::Duration;

use rusqlite::Connection as Db;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::connections;
pub use super::connections::LineEncoder;
use super::error::{StoreError, StoreResult};
use crate::model::ConnectionFilter;

/// Exports running at once; one more is refused (503) rather than queued behind them.
pub const MAX_EXPORTS: usize = 4;

/// How long a chunk waits for a client that has stopped reading before the export ends.
pub const STALLED_EXPORT: Duration = Duration::from_secs(30);

/// The exports one node may run at once ([`MAX_EXPORTS`]), whichever backend reads them.
pub(super) struct ExportSlots(Arc<Semaphore>);

impl Default for ExportSlots {
    fn default() -> Self {
        Self(Arc::new(Semaphore::new(MAX_EXPORTS)))
    }
}

impl ExportSlots {
    /// A slot for one more export, held until it ends; `Busy` when all are taken (one more is
    /// refused, 503, rather than queued behind them).
    pub(super) fn take(&self) -> StoreResult<OwnedSemaphorePermit> {
        self.0
            .clone()
            .try_acquire_owned()
            .map_err(|_| StoreError::Busy(format!("{MAX_EXPORTS} exports are running; try again when one ends")))
    }
}

/// Chunks read ahead of the client.
const READ_AHEAD: usize = 2;

/// A running export: its chunks of encoded lines, in listing order. The stream's end is `None`
/// after the last chunk; a failure is its last item.
pub struct Export {
    receiver: mpsc::Receiver<StoreResult<Vec<u8>>>,
}

impl Export {
    /// An export fed through the returned sender, with the same read-ahead: how a backend
    /// that reads without a blocking connection (PostgreSQL, `postgres/export.rs`) makes one.
    pub(super) fn channel() -> (mpsc::Sender<StoreResult<Vec<u8>>>, Export) {
        let (sender, receiver) = mpsc::channel(READ_AHEAD);
        (sender, Export { receiver })
    }

    pub async fn next_chunk(&mut self) -> Option<StoreResult<Vec<u8>>> {
        self.receiver.recv().await
    }
}

/// Starts reading on `db`, `chunk` rows at a time encoded by `encode`, holding `permit` until
/// the export ends. Call within a tokio runtime.
pub(super) fn start(
    db: Db,
    permit: OwnedSemaphorePermit,
    filter: ConnectionFilter,
    chunk: usize,
    encode: LineEncoder,
) -> Export {
    let (sender, export) = Export::channel();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut chunks = 0;
        let delivered = connections::export(&db, &filter, chunk, encode, |lines| {
            chunks += 1;
            // Fails when the response was dropped (the client went away) or stalled too long.
            runtime.block_on(sender.send_timeout(Ok(lines), STALLED_EXPORT)).is_ok()
        });
        if let Err(error) = delivered {
            let _ = sender.blocking_send(Err(error));
        }
        drop((db, sender, permit));
        // A short export (one context's connections) grew nothing worth a trim of every arena.
        if chunks > READ_AHEAD {
            release_freed_memory();
        }
    });
    export
}

/// Hands the heap's free pages back to the system. An export's chunks and its connection's page
/// cache are allocated and freed on whichever threads ran it, and glibc keeps an arena per
/// thread that never shrinks on its own: without this a server that has served exports (or any
/// burst) keeps their peak as its resident size.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it takes no pointer of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}
