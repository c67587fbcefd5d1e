//! `GET /stats/history`: the event history counted per time bucket and connector, for charts.
//!
//! Errors, recoveries and transient failures are counted from the events table (a range of
//! `events_by_time`); routine refreshes from the hourly counters, platform-wide from
//! `refresh_counts` and per connector from `connector_refresh_counts`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection as Db, params};

use super::error::StoreResult;
use super::sql::timestamp_text;
use crate::model::{ConnectorStats, StatsBucket, StatsCounts, StatsHistory};

/// The buckets of `[since, until)`, `bucket_seconds` long, the first starting at `since`.
#[derive(Debug, Clone, Copy)]
pub struct StatsWindow {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub bucket_seconds: i64,
}

impl StatsWindow {
    fn buckets(&self) -> usize {
        let seconds = (self.until - self.since).num_seconds().max(0);
        (seconds / self.bucket_seconds) as usize
    }

    /// The bucket holding `at` (seconds since the epoch), if it is in the window.
    fn bucket_of(&self, at: i64) -> Option<usize> {
        let offset = at - self.since.timestamp();
        (offset >= 0).then(|| (offset / self.bucket_seconds) as usize).filter(|&bucket| bucket < self.buckets())
    }
}

/// Errors, recoveries and transient failures per second and connector in `[?1, ?2)`.
const EVENT_COUNTS: &str = "SELECT CAST(strftime('%s', occurred_at) AS INTEGER), COALESCE(connector, ''),
        SUM(event_type = 'connection.error'),
        SUM(event_type IN ('connection.recovered', 'connection.repaired')),
        SUM(event_type = 'connection.refresh_failed')
    FROM events
    WHERE occurred_at >= ?1 AND occurred_at < ?2
      AND event_type IN ('connection.error', 'connection.recovered', 'connection.repaired', 'connection.refresh_failed')
    GROUP BY occurred_at, connector";

/// Counts what happened in each bucket of `window`, per connector and for the platform.
pub(super) fn history(db: &Db, window: StatsWindow) -> StoreResult<StatsHistory> {
    let (since, until) = (timestamp_text(window.since), timestamp_text(window.until));
    let mut tally = Tally::new(window);
    let mut events = db.prepare_cached(EVENT_COUNTS)?;
    let rows = events.query_map(params![since, until], |row| {
        let counts =
            StatsCounts { errors: row.get(2)?, recoveries: row.get(3)?, refreshes: 0, transient_failures: row.get(4)? };
        Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?, counts))
    })?;
    for row in rows {
        let (at, connector, counts) = row?;
        tally.events(at, connector, &counts);
    }
    let hourly =
        "SELECT CAST(strftime('%s', hour) AS INTEGER), refreshed FROM refresh_counts WHERE hour >= ?1 AND hour < ?2";
    for row in db.prepare_cached(hourly)?.query_map(params![since, until], |row| Ok((row.get(0)?, row.get(1)?)))? {
        let (at, refreshed): (i64, u64) = row?;
        tally.refreshes(at, refreshed);
    }
    let per_connector =
        "SELECT CAST(strftime('%s', hour) AS INTEGER), connector, refreshed FROM connector_refresh_counts
         WHERE hour >= ?1 AND hour < ?2";
    let mut statement = db.prepare_cached(per_connector)?;
    for row in statement.query_map(params![since, until], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))? {
        let (at, connector, refreshed): (i64, String, u64) = row?;
        tally.connector_refreshes(at, connector, refreshed);
    }
    Ok(tally.finish())
}

/// The counts of each bucket of a window, per connector and for the platform, as the rows of
/// the history's three queries arrive (whichever backend reads them); rows outside the window
/// are left out.
pub(super) struct Tally {
    window: StatsWindow,
    buckets: Vec<(StatsCounts, BTreeMap<String, StatsCounts>)>,
}

impl Tally {
    pub(super) fn new(window: StatsWindow) -> Tally {
        Tally { window, buckets: vec![Default::default(); window.buckets()] }
    }

    fn bucket(&mut self, at: i64) -> Option<&mut (StatsCounts, BTreeMap<String, StatsCounts>)> {
        self.window.bucket_of(at).and_then(|bucket| self.buckets.get_mut(bucket))
    }

    /// The events of second `at` (since the epoch) of `connector` (empty: none).
    pub(super) fn events(&mut self, at: i64, connector: String, counts: &StatsCounts) {
        if let Some((totals, connectors)) = self.bucket(at) {
            totals.add(counts);
            connectors.entry(connector).or_default().add(counts);
        }
    }

    /// The platform's refreshes of the hour starting at `at`.
    pub(super) fn refreshes(&mut self, at: i64, refreshed: u64) {
        if let Some((totals, _)) = self.bucket(at) {
            totals.refreshes += refreshed;
        }
    }

    /// A connector's refreshes of the hour starting at `at`.
    pub(super) fn connector_refreshes(&mut self, at: i64, connector: String, refreshed: u64) {
        if let Some((_, connectors)) = self.bucket(at) {
            connectors.entry(connector).or_default().refreshes += refreshed;
        }
    }

    pub(super) fn finish(self) -> StatsHistory {
        let window = self.window;
        let bucket_length = chrono::Duration::seconds(window.bucket_seconds);
        let buckets = self
            .buckets
            .into_iter()
            .enumerate()
            .map(|(position, (totals, connectors))| StatsBucket {
                start: timestamp_text(window.since + bucket_length * position as i32),
                totals,
                connectors: connectors
                    .into_iter()
                    .filter(|(connector, counts)| !connector.is_empty() && !counts.is_empty())
                    .map(|(connector, counts)| ConnectorStats { connector, counts })
                    .collect(),
            })
            .collect();
        StatsHistory {
            since: timestamp_text(window.since),
            until: timestamp_text(window.until),
            bucket_seconds: window.bucket_seconds as u64,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_history_query_reads_a_range_of_the_time_index() {
        let db = super::super::migrations::in_memory();
        let plan: Vec<String> = db
            .prepare(&format!("EXPLAIN QUERY PLAN {EVENT_COUNTS}"))
            .unwrap()
            .query_map(params!["2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"], |row| row.get(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(plan.iter().any(|step| step.contains("USING INDEX events_by_time")), "{plan:?}");
    }
}
