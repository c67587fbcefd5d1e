//! Keeps the event history to its retention: a background task deletes older events.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::store::Store;

/// How long events are kept, and how often older ones are deleted.
#[derive(Debug, Clone, Copy)]
pub struct EventRetention {
    pub keep: Duration,
    pub prune_every: Duration,
}

impl Default for EventRetention {
    fn default() -> Self {
        Self { keep: Duration::from_secs(30 * 24 * 3600), prune_every: Duration::from_secs(3600) }
    }
}

/// Prunes at once and then every `prune_every`, until `stop`.
pub(super) fn spawn_pruner(store: Store, retention: EventRetention, stop: CancellationToken) {
    tokio::spawn(async move {
        loop {
            let keep = chrono::Duration::from_std(retention.keep).unwrap_or(chrono::Duration::MAX);
            let before =
                chrono::Utc::now().checked_sub_signed(keep).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            match store.prune_events(before).await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "pruned old events"),
                Err(error) => tracing::warn!(%error, "cannot prune old events"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(retention.prune_every) => {}
            }
        }
    });
}
