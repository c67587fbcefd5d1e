//! The one LISTEN connection of a process (not pooled): every node's committed events and
//! status changes arrive here as notifications (`xkit_events`: the seq; `xkit_status`: the
//! record as JSON) and go to the store's subscribers. When the database goes away it connects
//! again, waiting 1 s, doubling to 10 s; once listening again it re-reads the newest seq, so a
//! notification lost meanwhile still wakes the long-polls.

use std::time::Duration;

use futures::StreamExt as _;
use tokio::sync::{broadcast, mpsc, watch};
use tokio_postgres::{AsyncMessage, Notification};
use tokio_util::task::AbortOnDropHandle;

use super::super::events::raise_newest;
use super::super::status_changes::AuthorizationStatusRecord;
use super::connection_settings::ConnectionSettings;
use crate::model::AuthorizationStatus;

pub(super) const EVENTS_CHANNEL: &str = "xkit_events";
pub(super) const STATUS_CHANNEL: &str = "xkit_status";

const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// Where the notifications go.
pub(super) struct Subscribers {
    pub newest_event: watch::Sender<i64>,
    pub status_changes: broadcast::Sender<AuthorizationStatusRecord>,
}

/// Listens until the task is aborted (the store dropped), reconnecting with backoff.
pub(super) async fn run(settings: ConnectionSettings, subscribers: Subscribers) {
    let mut retry = FIRST_RETRY;
    loop {
        let mut listened = false;
        if let Err(error) = listen(&settings, &subscribers, &mut listened).await {
            tracing::warn!(error = %error, "the PostgreSQL notification listener lost its connection; reconnecting");
        }
        if listened {
            retry = FIRST_RETRY;
        }
        tokio::time::sleep(retry).await;
        retry = (retry * 2).min(LAST_RETRY);
    }
}

/// One connection's life: LISTEN, catch up on the newest seq, then forward notifications until
/// the connection ends.
async fn listen(
    settings: &ConnectionSettings,
    subscribers: &Subscribers,
    listened: &mut bool,
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = settings.config.connect(settings.tls.clone()).await?;
    let (sender, mut notifications) = mpsc::unbounded_channel::<Notification>();
    // Polling the connection drives the client's queries too; it ends with the connection.
    let driver = AbortOnDropHandle::new(tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(notification)) => {
                    if sender.send(notification).is_err() {
                        return Ok(());
                    }
                }
                Ok(_) => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }));
    client.batch_execute(&format!("LISTEN {EVENTS_CHANNEL}; LISTEN {STATUS_CHANNEL}")).await?;
    let newest: i64 = client.query_one("SELECT COALESCE(MAX(seq), 0) FROM events", &[]).await?.get(0);
    raise_newest(&subscribers.newest_event, newest);
    *listened = true;
    while let Some(notification) = notifications.recv().await {
        match notification.channel() {
            EVENTS_CHANNEL => {
                if let Ok(seq) = notification.payload().parse() {
                    raise_newest(&subscribers.newest_event, seq);
                }
            }
            STATUS_CHANNEL => {
                if let Some(record) = status_record(notification.payload()) {
                    // No subscriber is not an error.
                    let _ = subscribers.status_changes.send(record);
                }
            }
            _ => {}
        }
    }
    match driver.await {
        Ok(ended) => ended,
        Err(_) => Ok(()),
    }
}

/// The status trigger's payload: `{"authorization_id", "external_id", "status"}`.
fn status_record(payload: &str) -> Option<AuthorizationStatusRecord> {
    let value: serde_json::Value = serde_json::from_str(payload).ok()?;
    Some(AuthorizationStatusRecord {
        authorization_id: value["authorization_id"].as_i64()?,
        external_id: value["external_id"].as_str()?.to_owned(),
        status: AuthorizationStatus::parse(value["status"].as_str()?),
    })
}
