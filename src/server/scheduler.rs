//! Proactive refresh: a background task that refreshes tokens before anyone reads them, so a
//! revoked grant becomes `connection.error` (and a provider outage `connection.refresh_failed`)
//! while nobody is looking, and so providers that revoke unused refresh tokens keep them.
//!
//! Every tick (a jittered interval, so several servers or restarts do not fall in step) asks
//! the store for the due connections through its partial indexes (`store::refresh_schedule`):
//! tokens the refresher would refresh on read (expiring within the margin), and tokens not
//! refreshed for `idle`. "Unused" is measured from the last refresh, not the last read: a
//! read hands out our stored access token and never reaches the provider, whose inactivity
//! clock only a refresh resets; and it keeps the single-read path free of writes. Each due
//! connection is refreshed through the [`Refresher`] (single flight with reads, the same
//! cooldowns and `Retry-After`), at most `concurrency` at a time, as actor `scheduler`, so
//! the events it causes name it. Connections cooling down are left for a later tick, and a
//! connection whose refreshes keep failing transiently is retried less and less often (the
//! cooldown, doubling up to 10 minutes): a provider outage is a few `connection.refresh_failed`
//! per connection, not one per cooldown for as long as it lasts. Reads keep their own cooldown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use rand::Rng as _;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::refresh::{RefreshOutcome, Refresher, Trigger};
use super::store::actor::acting_as;
use super::store::{Store, StoreResult};

/// The actor of the scheduler's writes.
pub const ACTOR: &str = "scheduler";
/// Connections refreshed per tick at most (what one tick holds in memory); the rest wait.
const MAX_PER_TICK: usize = 10_000;
/// The longest the scheduler waits before retrying a connection whose refreshes keep failing.
const MAX_BACKOFF: Duration = Duration::from_secs(10 * 60);
/// Bound on the connections remembered as failing; past it, the ones whose wait ended are forgotten.
const MAX_BACKED_OFF: usize = 10_000;

/// Tunables of the scheduler.
#[derive(Debug, Clone, Copy)]
pub struct SchedulerSettings {
    /// Refresh tokens not refreshed for this long.
    pub idle: Duration,
    /// Refreshes in flight at once.
    pub concurrency: usize,
    /// Time between ticks (each one jittered by up to a fifth either way).
    pub interval: Duration,
}

impl Default for SchedulerSettings {
    fn default() -> Self {
        Self { idle: Duration::from_secs(24 * 3600), concurrency: 4, interval: Duration::from_secs(5) }
    }
}

/// Ticks at once and then every (jittered) interval until `stop`; the tick in progress ends
/// its refreshes in flight (a refresh cut in the middle could lose a rotated refresh token),
/// and `tracker` lets the server's shutdown wait for that.
pub(super) fn spawn(
    store: Store,
    refresher: Arc<Refresher>,
    settings: SchedulerSettings,
    stop: CancellationToken,
    tracker: &TaskTracker,
) {
    tracker.spawn(async move {
        let backoff = Mutex::new(Backoff::default());
        loop {
            let started = Instant::now();
            match tick(&store, &refresher, settings, &backoff, &stop).await {
                Ok(0) => {}
                Ok(attempted) => {
                    tracing::debug!(attempted, elapsed_ms = started.elapsed().as_millis(), "proactive refresh tick")
                }
                Err(error) => tracing::warn!(%error, "proactive refresh tick failed"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(jittered(settings.interval)) => {}
            }
        }
    });
}

/// `interval` times a random factor between 0.8 and 1.2.
fn jittered(interval: Duration) -> Duration {
    interval.mul_f64(rand::rng().random_range(0.8..1.2))
}

/// Consecutive transient failures per connection, and when the scheduler tries it again.
#[derive(Default)]
struct Backoff {
    failing: HashMap<String, (u32, Instant)>,
}

impl Backoff {
    fn holds(&self, id: &str) -> bool {
        self.failing.get(id).is_some_and(|(_, next)| *next > Instant::now())
    }

    /// Another transient failure: wait `base` times two to the failures before it, jittered.
    fn failed(&mut self, id: &str, base: Duration) {
        if self.failing.len() >= MAX_BACKED_OFF {
            let now = Instant::now();
            self.failing.retain(|_, (_, next)| *next > now);
        }
        let failures = self.failing.get(id).map_or(0, |(failures, _)| *failures) + 1;
        let wait = base.saturating_mul(1 << (failures - 1).min(16)).min(MAX_BACKOFF);
        self.failing.insert(id.to_owned(), (failures, Instant::now() + jittered(wait)));
    }

    fn ended(&mut self, id: &str) {
        self.failing.remove(id);
    }
}

/// One pass over the due connections; how many refreshes it attempted.
async fn tick(
    store: &Store,
    refresher: &Refresher,
    settings: SchedulerSettings,
    backoff: &Mutex<Backoff>,
    stop: &CancellationToken,
) -> StoreResult<usize> {
    let now = chrono::Utc::now();
    let margin = chrono::Duration::from_std(refresher.settings().margin).unwrap_or(chrono::Duration::MAX);
    let idle = chrono::Duration::from_std(settings.idle).unwrap_or(chrono::Duration::MAX);
    let idle_before = now.checked_sub_signed(idle).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    let due = store.due_for_refresh(now, margin, idle_before, MAX_PER_TICK).await?;
    let due: Vec<String> = {
        let backoff = backoff.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        due.into_iter().filter(|id| !refresher.is_cooling_down(id) && !backoff.holds(id)).collect()
    };
    let attempted = due.len();
    futures::stream::iter(due)
        .take_until(stop.cancelled())
        .for_each_concurrent(settings.concurrency.max(1), |id| async move {
            let trigger = Trigger::Scheduled { idle_before };
            let outcome = acting_as(ACTOR.to_owned(), refresher.refresh_for(&id, trigger)).await;
            let mut backoff = backoff.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match outcome {
                Ok(RefreshOutcome::Transient(_)) => backoff.failed(&id, refresher.settings().cooldown),
                Ok(RefreshOutcome::Impossible(reason)) => tracing::debug!(connection = id, %reason, "not refreshable"),
                // Still waiting (a provider's Retry-After, or another process refreshing it).
                Ok(RefreshOutcome::CoolingDown(_)) => {}
                // Refreshed, or revoked: the refresher logged it and recorded the change's event.
                Ok(_) => backoff.ended(&id),
                Err(error) => tracing::warn!(connection = id, %error, "proactive refresh failed"),
            }
        })
        .await;
    Ok(attempted)
}
