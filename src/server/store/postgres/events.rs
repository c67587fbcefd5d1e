//! PLACEHOLDER, replaced by its engineer: PostgreSQL's EventStore.
#![allow(clippy::all, unused_imports)]

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{SecretSlice, SecretString};
use tokio::sync::{broadcast, watch};

use super::PgStore;
use crate::model::{
    Connection, ConnectionFilter, Connector, Context, EventsPage, Platform, PlatformStats, RefreshCount, StatsHistory,
    Webhook, WebhookDelivery,
};
use crate::server::store::*;

#[async_trait]
impl EventStore for PgStore {
    fn subscribe_status_changes(&self) -> broadcast::Receiver<AuthorizationStatusRecord> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }

    async fn authorization_status(&self, _id: i64) -> StoreResult<AuthorizationStatusRecord> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }

    fn subscribe_events(&self) -> watch::Receiver<i64> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }

    async fn notice_newer_events(&self) -> StoreResult<()> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }

    async fn events(&self, _filter: EventFilter, _after: Option<String>, _limit: usize) -> StoreResult<EventsPage> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }

    async fn refresh_counts(&self, _since: Option<DateTime<Utc>>) -> StoreResult<Vec<RefreshCount>> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }

    async fn stats_history(&self, _window: StatsWindow) -> StoreResult<StatsHistory> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }

    async fn prune_events(&self, _before: DateTime<Utc>) -> StoreResult<usize> {
        unimplemented!("PostgreSQL: EventStore (in progress)")
    }
}
