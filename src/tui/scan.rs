//! The scan worker: loads connectors, contexts and every connection, page by page, and sends
//! each page to the state owner as it arrives.
//!
//! Connections come from the bulk `GET /connections` extension when the server has it; a 404
//! on its first page switches to Xkit's own per-context listing, fanned out with at most
//! `concurrency` requests at a time over the contexts as they are paged in.

use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use super::action::{Action, ScanEvent, Stream};
use crate::client::{Client, ClientError, ConnectionFilter};
use crate::model::{Connection, ContextRef};

/// Rows asked for per page of each listing.
const PAGE_SIZE: u32 = 200;
/// A listing longer than this many pages is treated as a server bug (a cursor that loops).
const MAX_PAGES: usize = 100_000;

#[derive(Clone)]
struct Reporter {
    tx: mpsc::Sender<Action>,
    generation: u64,
}

impl Reporter {
    /// Sends one event; false when the dashboard has gone away.
    async fn send(&self, event: ScanEvent) -> bool {
        self.tx.send(Action::Scan { generation: self.generation, event }).await.is_ok()
    }

    async fn finished(&self, stream: Stream, result: Result<(), String>) {
        if let Err(error) = &result {
            tracing::warn!(?stream, %error, "scan stream failed");
        }
        self.send(ScanEvent::Finished { stream, result }).await;
    }
}

/// Runs one scan to completion. Every stream ends with exactly one `Finished` event.
pub async fn run(client: Client, generation: u64, catalog: bool, concurrency: usize, tx: mpsc::Sender<Action>) {
    let reporter = Reporter { tx, generation };
    let (ids_tx, ids_rx) = mpsc::unbounded_channel();
    tokio::join!(
        load_catalog(&client, &reporter, catalog),
        load_connectors(&client, &reporter),
        load_contexts(&client, &reporter, ids_tx),
        load_connections(&client, &reporter, ids_rx, concurrency.max(1)),
    );
}

async fn load_catalog(client: &Client, reporter: &Reporter, wanted: bool) {
    if wanted {
        let result = client.platform().await.map(|platform| platform.hosted_catalog_url()).map_err(|e| e.to_string());
        if let Err(error) = &result {
            tracing::warn!(%error, "cannot read the platform record for the catalog URL");
        }
        reporter.send(ScanEvent::Catalog(result)).await;
    }
}

/// Follows `next_cursor` until the listing ends, refusing a cursor that repeats.
fn next(cursor: &Option<String>, next_cursor: Option<String>, pages: usize) -> Result<Option<String>, String> {
    match next_cursor.filter(|next| !next.is_empty()) {
        Some(next) if cursor.as_ref() == Some(&next) => Err("the server repeated a page cursor".to_owned()),
        Some(_) if pages >= MAX_PAGES => Err(format!("listing longer than {MAX_PAGES} pages")),
        other => Ok(other),
    }
}

async fn load_connectors(client: &Client, reporter: &Reporter) {
    let mut cursor = None;
    let result = async {
        for pages in 1.. {
            let page = client.list_connectors(cursor.as_deref(), Some(PAGE_SIZE)).await.map_err(|e| e.to_string())?;
            let next_cursor = next(&cursor, page.next_cursor, pages)?;
            if !reporter.send(ScanEvent::ConnectorsPage(page.connectors)).await {
                break;
            }
            cursor = next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(())
    }
    .await;
    reporter.finished(Stream::Connectors, result).await;
}

async fn load_contexts(client: &Client, reporter: &Reporter, ids: mpsc::UnboundedSender<ContextRef>) {
    let mut cursor = None;
    let result = async {
        for pages in 1.. {
            let page =
                client.list_contexts(None, cursor.as_deref(), Some(PAGE_SIZE)).await.map_err(|e| e.to_string())?;
            let next_cursor = next(&cursor, page.next_cursor, pages)?;
            for context in &page.contexts {
                // Nobody listens when the bulk listing works; that is fine.
                let _ = ids.send(ContextRef {
                    external_id: context.external_id.clone(),
                    external_name: context.external_name.clone(),
                });
            }
            if !reporter.send(ScanEvent::ContextsPage(page.contexts)).await {
                break;
            }
            cursor = next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(())
    }
    .await;
    drop(ids);
    reporter.finished(Stream::Contexts, result).await;
}

async fn load_connections(
    client: &Client,
    reporter: &Reporter,
    mut ids: mpsc::UnboundedReceiver<ContextRef>,
    concurrency: usize,
) {
    let mut cursor = None;
    let result = async {
        for pages in 1.. {
            let page =
                match client.list_connections(&ConnectionFilter::default(), cursor.as_deref(), Some(PAGE_SIZE)).await {
                    Err(ClientError::NotFound(_)) if cursor.is_none() => {
                        tracing::info!("the server has no bulk connections listing; fetching per context");
                        return fan_out(client, reporter, &mut ids, concurrency).await;
                    }
                    other => other.map_err(|e| e.to_string())?,
                };
            ids.close();
            let next_cursor = next(&cursor, page.next_cursor, pages)?;
            if !reporter.send(ScanEvent::ConnectionsPage { connections: page.connections, fallback: false }).await {
                break;
            }
            cursor = next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        Ok(())
    }
    .await;
    reporter.finished(Stream::Connections, result).await;
}

/// Xkit's own way: one listing per context, at most `concurrency` in flight.
async fn fan_out(
    client: &Client,
    reporter: &Reporter,
    ids: &mut mpsc::UnboundedReceiver<ContextRef>,
    concurrency: usize,
) -> Result<(), String> {
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let (mut total, mut failed, mut last_error) = (0usize, 0usize, String::new());
    let mut absorb = |outcome: Result<Result<Vec<Connection>, ClientError>, tokio::task::JoinError>| match outcome {
        Ok(Ok(connections)) => Some(connections),
        Ok(Err(error)) => {
            failed += 1;
            last_error = error.to_string();
            None
        }
        Err(join_error) => {
            failed += 1;
            last_error = join_error.to_string();
            None
        }
    };
    let mut pending = Vec::new();
    loop {
        tokio::select! {
            context = ids.recv() => {
                let Some(context) = context else { break };
                total += 1;
                let permit = permits.clone().acquire_owned().await.map_err(|e| e.to_string())?;
                let client = client.clone();
                tasks.spawn(async move {
                    let _permit = permit;
                    context_connections(&client, context).await
                });
            }
            Some(outcome) = tasks.join_next() => pending.extend(absorb(outcome)),
        }
        for connections in pending.drain(..) {
            if !reporter.send(ScanEvent::ConnectionsPage { connections, fallback: true }).await {
                return Ok(());
            }
        }
    }
    while let Some(outcome) = tasks.join_next().await {
        if let Some(connections) = absorb(outcome)
            && !reporter.send(ScanEvent::ConnectionsPage { connections, fallback: true }).await
        {
            return Ok(());
        }
    }
    if failed > 0 { Err(format!("{failed} of {total} contexts failed; last: {last_error}")) } else { Ok(()) }
}

/// Every page of one context's connections, each stamped with the context it belongs to.
async fn context_connections(client: &Client, context: ContextRef) -> Result<Vec<Connection>, ClientError> {
    let mut connections = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1.. {
        let page = match client.context_connections(&context.external_id, cursor.as_deref()).await {
            // Deleted between the contexts listing and now: nothing to show.
            Err(ClientError::NotFound(_)) => break,
            other => other?,
        };
        connections.extend(page.connections.into_iter().map(|mut connection| {
            connection.context.get_or_insert_with(|| context.clone());
            connection
        }));
        match next(&cursor, page.next_cursor, pages) {
            Ok(Some(next_cursor)) => cursor = Some(next_cursor),
            Ok(None) => break,
            Err(problem) => return Err(ClientError::InvalidResponse(problem)),
        }
    }
    Ok(connections)
}
