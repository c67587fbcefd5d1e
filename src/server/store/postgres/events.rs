//! PostgreSQL's `EventStore`: the event history the triggers write (`triggers.rs`), read and
//! pruned with the semantics of SQLite's `store/events.rs` and `store/stats.rs` (same filters,
//! cursors, buckets and counts). The subscriptions are the listener's channels (`listener.rs`),
//! fed by every node's commits.
//!
//! Times are compared to the second, as SQLite compares its `2026-01-01T13:00:00Z` texts: a
//! bound of 13:00:00.5 includes the events of 13:00:00.

use async_trait::async_trait;
use chrono::{DateTime, SubsecRound as _, Utc};
use serde_json::Value;
use tokio::sync::{broadcast, watch};
use tokio_postgres::types::ToSql;

use super::PgStore;
use crate::model::{AuthorizationStatus, Event, EventsPage, RefreshCount, StatsCounts, StatsHistory};
use crate::server::store::actor;
use crate::server::store::cursor::{self, Listing};
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::events::{EventFilter, after_seq, raise_newest};
use crate::server::store::interface::EventStore;
use crate::server::store::sql::timestamp_text;
use crate::server::store::stats::{StatsWindow, Tally};
use crate::server::store::status_changes::AuthorizationStatusRecord;

/// Errors, recoveries and transient failures per second and connector in `[$1, $2)`, on a range
/// of `events_by_time`.
const EVENT_COUNTS: &str = "SELECT extract(epoch FROM occurred_at)::BIGINT, COALESCE(connector, ''),
        count(*) FILTER (WHERE event_type = 'connection.error'),
        count(*) FILTER (WHERE event_type IN ('connection.recovered', 'connection.repaired')),
        count(*) FILTER (WHERE event_type = 'connection.refresh_failed')
    FROM events
    WHERE occurred_at >= $1 AND occurred_at < $2
      AND event_type IN ('connection.error', 'connection.recovered', 'connection.repaired', 'connection.refresh_failed')
    GROUP BY occurred_at, connector";

#[async_trait]
impl EventStore for PgStore {
    fn subscribe_status_changes(&self) -> broadcast::Receiver<AuthorizationStatusRecord> {
        PgStore::subscribe_status_changes(self)
    }

    async fn authorization_status(&self, id: i64) -> StoreResult<AuthorizationStatusRecord> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT a.id, x.external_id, a.status FROM authorizations a
                 JOIN connections c ON c.seq = a.connection_seq JOIN contexts x ON x.id = c.context_id WHERE a.id = $1",
            )
            .await?;
        let row = client.query_opt(&statement, &[&id]).await?;
        let row = row.ok_or_else(|| StoreError::NotFound(format!("no authorization with id {id}")))?;
        Ok(AuthorizationStatusRecord {
            authorization_id: row.get(0),
            external_id: row.get(1),
            status: AuthorizationStatus::parse(row.get(2)),
        })
    }

    fn subscribe_events(&self) -> watch::Receiver<i64> {
        PgStore::subscribe_events(self)
    }

    async fn notice_newer_events(&self) -> StoreResult<()> {
        let client = self.client().await?;
        let statement = client.prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM events").await?;
        let newest: i64 = client.query_one(&statement, &[]).await?.get(0);
        raise_newest(&self.inner.newest_event, newest);
        Ok(())
    }

    async fn events(&self, filter: EventFilter, after: Option<String>, limit: usize) -> StoreResult<EventsPage> {
        let after = after_seq(after.as_deref())?;
        // One statement per combination of filters (each prepared once per connection), so that
        // each can seek its index (`events_by_connection`, `events_by_time`, the seq).
        let mut sql = String::from(
            "SELECT seq, id, event_type, occurred_at, context_id, connector, connection_id, payload, actor
             FROM events WHERE seq > $1",
        );
        let since = filter.since.map(|since| since.trunc_subsecs(0));
        let mut values: Vec<&(dyn ToSql + Sync)> = vec![&after];
        let narrowing: [(&str, Option<&(dyn ToSql + Sync)>); 5] = [
            ("event_type =", filter.event_type.as_ref().map(|value| value as _)),
            ("context_id =", filter.context.as_ref().map(|value| value as _)),
            ("connector =", filter.connector.as_ref().map(|value| value as _)),
            ("connection_id =", filter.connection.as_ref().map(|value| value as _)),
            ("occurred_at >=", since.as_ref().map(|value| value as _)),
        ];
        for (column, value) in narrowing {
            if let Some(value) = value {
                values.push(value);
                sql.push_str(&format!(" AND {column} ${}", values.len()));
            }
        }
        let limit = limit as i64;
        values.push(&limit);
        sql.push_str(&format!(" ORDER BY seq LIMIT ${}", values.len()));
        let client = self.client().await?;
        let statement = client.prepare_cached(&sql).await?;
        let rows = client.query(&statement, &values).await?;
        let last = rows.last().map_or(after, |row| row.get(0));
        let events = rows
            .iter()
            .map(|row| Event {
                id: row.get(1),
                event_type: row.get(2),
                occurred_at: timestamp_text(row.get(3)),
                context: row.get(4),
                connector: row.get(5),
                connection: row.get(6),
                actor: row.get(8),
                payload: row.get::<_, Value>(7),
            })
            .collect();
        Ok(EventsPage { events, next_cursor: cursor::encode(Listing::Events, &last.to_string()) })
    }

    async fn refresh_counts(&self, since: Option<DateTime<Utc>>) -> StoreResult<Vec<RefreshCount>> {
        let since = since.map(|since| since.trunc_subsecs(0));
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT hour, refreshed FROM refresh_counts
                 WHERE $1::TIMESTAMPTZ IS NULL OR hour + INTERVAL '1 hour' >= $1 ORDER BY hour",
            )
            .await?;
        Ok(client
            .query(&statement, &[&since])
            .await?
            .iter()
            .map(|row| RefreshCount { hour: timestamp_text(row.get(0)), refreshed: row.get::<_, i64>(1).max(0) as u64 })
            .collect())
    }

    async fn stats_history(&self, window: StatsWindow) -> StoreResult<StatsHistory> {
        let (since, until) = (window.since.trunc_subsecs(0), window.until.trunc_subsecs(0));
        let client = self.client().await?;
        let mut tally = Tally::new(window);
        let count = |row: &tokio_postgres::Row, column| row.get::<_, i64>(column).max(0) as u64;
        let events = client.prepare_cached(EVENT_COUNTS).await?;
        for row in client.query(&events, &[&since, &until]).await? {
            let counts = StatsCounts {
                errors: count(&row, 2),
                recoveries: count(&row, 3),
                refreshes: 0,
                transient_failures: count(&row, 4),
            };
            tally.events(row.get(0), row.get(1), &counts);
        }
        let hourly = client
            .prepare_cached(
                "SELECT extract(epoch FROM hour)::BIGINT, refreshed FROM refresh_counts WHERE hour >= $1 AND hour < $2",
            )
            .await?;
        for row in client.query(&hourly, &[&since, &until]).await? {
            tally.refreshes(row.get(0), count(&row, 1));
        }
        let per_connector = client
            .prepare_cached(
                "SELECT extract(epoch FROM hour)::BIGINT, connector, refreshed FROM connector_refresh_counts
                 WHERE hour >= $1 AND hour < $2",
            )
            .await?;
        for row in client.query(&per_connector, &[&since, &until]).await? {
            tally.connector_refreshes(row.get(0), row.get(1), count(&row, 2));
        }
        Ok(tally.finish())
    }

    async fn prune_events(&self, before: DateTime<Utc>) -> StoreResult<usize> {
        let before = before.trunc_subsecs(0);
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                let hours = tx.prepare_cached("DELETE FROM refresh_counts WHERE hour + INTERVAL '1 hour' < $1").await?;
                tx.execute(&hours, &[&before]).await?;
                let connector_hours = tx
                    .prepare_cached("DELETE FROM connector_refresh_counts WHERE hour + INTERVAL '1 hour' < $1")
                    .await?;
                tx.execute(&connector_hours, &[&before]).await?;
                let events = tx.prepare_cached("DELETE FROM events WHERE occurred_at < $1").await?;
                Ok(tx.execute(&events, &[&before]).await? as usize)
            })
        })
        .await
    }
}
