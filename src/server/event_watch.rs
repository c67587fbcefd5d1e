//! Events written by other processes on the same data directory (`xkit-dash keys revoke`,
//! `origins add`, anything opening the database) wake this server's long-polls too: the
//! store's own writes announce their events after commit, and this task notices the others'
//! by reading the newest event's seq (the primary key's maximum, one index lookup) twice a
//! second.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::store::Store;

/// How often the database is asked for its newest event.
const POLL_EVERY: Duration = Duration::from_millis(500);

/// Polls until `stop`.
pub(super) fn spawn(store: Store, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(POLL_EVERY) => {}
            }
            if let Err(error) = store.notice_newer_events().await {
                tracing::warn!(%error, "cannot read the newest event");
            }
        }
    });
}
