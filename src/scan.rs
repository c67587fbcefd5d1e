//! Walks every connection of a platform, page by page, for `check`, `connections` and the
//! dashboard's triage view.
//!
//! The scan prefers the bulk `GET /connections` extension (one paged request for the whole
//! platform). A server that answers 404 to it gets what Xkit itself offered: the contexts are
//! listed (or taken from the request) and each one's connections are fetched, a bounded number
//! at a time. Results arrive over a channel as [`ScanEvent`]s, so a UI stays responsive and a
//! CLI can stream its output; dropping the [`Scan`] stops the work.

use futures::StreamExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::{Client, ClientError, ConnectionFilter};
use crate::model::{Connection, Context, ContextRef, Health};

/// Concurrent per-context requests when falling back to the fan-out.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Page size asked of the bulk listing.
const PAGE_SIZE: u32 = 500;
/// Events buffered before the scan waits for its consumer.
const CHANNEL_CAPACITY: usize = 64;

/// What to scan; empty lists mean "all".
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Context `external_id`s to scan; the fan-out then needs no context listing.
    pub contexts: Vec<String>,
    /// Connector slugs to keep.
    pub connectors: Vec<String>,
    /// Keep only connections of this health.
    pub health: Option<Health>,
    /// Per-context requests at once in the fan-out.
    pub concurrency: usize,
}

impl Default for ScanRequest {
    fn default() -> Self {
        Self { contexts: Vec::new(), connectors: Vec::new(), health: None, concurrency: DEFAULT_CONCURRENCY }
    }
}

impl ScanRequest {
    fn keeps(&self, connection: &Connection) -> bool {
        (self.connectors.is_empty() || self.connectors.contains(&connection.connector.slug))
            && (self.contexts.is_empty()
                || connection.context.as_ref().is_some_and(|context| self.contexts.contains(&context.external_id)))
            && self.health.is_none_or(|health| Health::of(Some(connection)) == health)
    }
}

/// Which route the scan ended up using.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanMode {
    /// The bulk `GET /connections` extension.
    Bulk,
    /// `GET /contexts/:id/connections` per context (Xkit's own API).
    PerContext,
}

/// How far a scan got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanProgress {
    /// Connections delivered so far (after filtering).
    pub connections: usize,
    /// Contexts whose connections were fetched (per-context mode only).
    pub contexts_done: usize,
    /// Contexts to fetch, once known (per-context mode only).
    pub contexts_total: Option<usize>,
}

/// One step of a scan. A scan sends any number of `Page`s and then exactly one `Finished`.
#[derive(Debug)]
pub enum ScanEvent {
    /// The route in use; sent once, before the first page.
    Mode(ScanMode),
    /// Connections found, each with its `context` set, filtered as requested.
    Page { connections: Vec<Connection>, progress: ScanProgress },
    /// The end of the scan: its final progress, or why it stopped.
    Finished(Result<ScanProgress, ClientError>),
}

/// A running scan. Dropping it aborts the work.
pub struct Scan {
    pub events: mpsc::Receiver<ScanEvent>,
    task: JoinHandle<()>,
}

impl Drop for Scan {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts scanning on a tokio task.
pub fn start(client: Client, request: ScanRequest) -> Scan {
    let (sender, events) = mpsc::channel(CHANNEL_CAPACITY);
    let task = tokio::spawn(async move {
        let mut scanner = Scanner { client, request, sender, progress: ScanProgress::default() };
        let outcome = scanner.run().await.map(|()| scanner.progress);
        let _ = scanner.sender.send(ScanEvent::Finished(outcome)).await;
    });
    Scan { events, task }
}

/// The consumer went away: stop quietly.
struct Abandoned;

enum Stop {
    Abandoned,
    Failed(ClientError),
}

impl From<ClientError> for Stop {
    fn from(error: ClientError) -> Self {
        Stop::Failed(error)
    }
}

impl From<Abandoned> for Stop {
    fn from(_: Abandoned) -> Self {
        Stop::Abandoned
    }
}

struct Scanner {
    client: Client,
    request: ScanRequest,
    sender: mpsc::Sender<ScanEvent>,
    progress: ScanProgress,
}

impl Scanner {
    async fn run(&mut self) -> Result<(), ClientError> {
        match self.run_bulk().await {
            Ok(()) | Err(Stop::Abandoned) => Ok(()),
            Err(Stop::Failed(ClientError::NotFound(_))) if self.progress.connections == 0 => {
                tracing::debug!("GET /connections is not offered; scanning per context");
                match self.run_per_context().await {
                    Ok(()) | Err(Stop::Abandoned) => Ok(()),
                    Err(Stop::Failed(error)) => Err(error),
                }
            }
            Err(Stop::Failed(error)) => Err(error),
        }
    }

    /// Pages through `GET /connections`, once per requested context (or once for all).
    async fn run_bulk(&mut self) -> Result<(), Stop> {
        // Server-side filters narrow the transfer; the same filters are applied again locally,
        // so a server that ignores a parameter still gives the right answer.
        let connector = match self.request.connectors.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        let contexts: Vec<Option<String>> = if self.request.contexts.is_empty() {
            vec![None]
        } else {
            self.request.contexts.iter().cloned().map(Some).collect()
        };
        let mut announced = false;
        for context in contexts {
            let filter = ConnectionFilter { health: self.request.health, connector: connector.clone(), context };
            let mut cursor: Option<String> = None;
            loop {
                let page = self.client.list_connections(&filter, cursor.as_deref(), Some(PAGE_SIZE)).await?;
                if !announced {
                    self.send(ScanEvent::Mode(ScanMode::Bulk)).await?;
                    announced = true;
                }
                self.deliver(page.connections).await?;
                cursor = next_cursor(cursor.as_deref(), page.next_cursor)?;
                if cursor.is_none() {
                    break;
                }
            }
        }
        Ok(())
    }

    /// Lists contexts (unless given) and fetches each one's connections, a bounded number at
    /// a time.
    async fn run_per_context(&mut self) -> Result<(), Stop> {
        self.send(ScanEvent::Mode(ScanMode::PerContext)).await?;
        let explicit = !self.request.contexts.is_empty();
        let contexts: Vec<ContextRef> = if explicit {
            self.request.contexts.iter().map(|id| ContextRef { external_id: id.clone(), external_name: None }).collect()
        } else {
            self.list_all_contexts().await?
        };
        self.progress.contexts_total = Some(contexts.len());
        let client = self.client.clone();
        let mut fetches = futures::stream::iter(contexts)
            .map(|context| {
                let client = client.clone();
                async move {
                    let result = fetch_context_connections(&client, &context.external_id).await;
                    (context, result)
                }
            })
            .buffer_unordered(self.request.concurrency.max(1));
        while let Some((context, result)) = fetches.next().await {
            self.progress.contexts_done += 1;
            let mut connections = match result {
                Ok(connections) => connections,
                // A listed context deleted since the listing is simply gone.
                Err(ClientError::NotFound(_)) if !explicit => Vec::new(),
                Err(ClientError::NotFound(message)) => {
                    return Err(Stop::Failed(ClientError::NotFound(format!(
                        "context {:?}: {message}",
                        context.external_id
                    ))));
                }
                Err(error) => return Err(error.into()),
            };
            for connection in &mut connections {
                if connection.context.is_none() {
                    connection.context = Some(context.clone());
                }
            }
            self.deliver(connections).await?;
        }
        Ok(())
    }

    async fn list_all_contexts(&mut self) -> Result<Vec<ContextRef>, Stop> {
        let mut contexts = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page =
                self.client.list_contexts(None, cursor.as_deref(), Some(PAGE_SIZE)).await.map_err(
                    |error| match error {
                        ClientError::NotFound(_) => ClientError::NotFound(
                            "the server offers neither GET /connections nor GET /contexts; name the contexts to scan"
                                .into(),
                        ),
                        other => other,
                    },
                )?;
            contexts.extend(page.contexts.into_iter().map(context_ref));
            cursor = next_cursor(cursor.as_deref(), page.next_cursor)?;
            if cursor.is_none() {
                return Ok(contexts);
            }
        }
    }

    async fn deliver(&mut self, connections: Vec<Connection>) -> Result<(), Abandoned> {
        let connections: Vec<Connection> =
            connections.into_iter().filter(|connection| self.request.keeps(connection)).collect();
        self.progress.connections += connections.len();
        let progress = self.progress;
        self.send(ScanEvent::Page { connections, progress }).await
    }

    async fn send(&self, event: ScanEvent) -> Result<(), Abandoned> {
        self.sender.send(event).await.map_err(|_| Abandoned)
    }
}

/// All pages of one context's connections (Xkit's own route had no paging; ours may).
async fn fetch_context_connections(client: &Client, external_id: &str) -> Result<Vec<Connection>, ClientError> {
    let mut connections = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client.context_connections(external_id, cursor.as_deref()).await?;
        connections.extend(page.connections);
        cursor = next_cursor(cursor.as_deref(), page.next_cursor)?;
        if cursor.is_none() {
            return Ok(connections);
        }
    }
}

/// The cursor to follow, refusing a server that hands back the cursor it was given (which
/// would loop forever).
fn next_cursor(current: Option<&str>, next: Option<String>) -> Result<Option<String>, ClientError> {
    match next.filter(|next| !next.is_empty()) {
        Some(next) if Some(next.as_str()) == current => {
            Err(ClientError::InvalidResponse("the server returned the same page cursor twice".into()))
        }
        next => Ok(next),
    }
}

fn context_ref(context: Context) -> ContextRef {
    ContextRef { external_id: context.external_id, external_name: context.external_name }
}

/// Collects a whole scan into memory (for callers that need everything before output).
pub async fn collect(client: Client, request: ScanRequest) -> Result<Vec<Connection>, ClientError> {
    let mut scan = start(client, request);
    let mut all = Vec::new();
    while let Some(event) = scan.events.recv().await {
        match event {
            ScanEvent::Mode(_) => {}
            ScanEvent::Page { connections, .. } => all.extend(connections),
            ScanEvent::Finished(outcome) => return outcome.map(|_| all),
        }
    }
    Err(ClientError::InvalidResponse("the scan stopped unexpectedly".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Authorization, AuthorizationStatus, Connector};

    fn connection(context: &str, slug: &str, status: &str) -> Connection {
        Connection {
            id: format!("{context}-{slug}"),
            enabled: true,
            connector: Connector { slug: slug.into(), name: slug.into(), ..Default::default() },
            authorization: Some(Authorization { status: AuthorizationStatus::parse(status), ..Default::default() }),
            context: Some(ContextRef { external_id: context.into(), external_name: None }),
        }
    }

    #[test]
    fn request_filters_apply_together() {
        let request = ScanRequest {
            contexts: vec!["a".into()],
            connectors: vec!["slack".into(), "github".into()],
            health: Some(Health::Error),
            ..Default::default()
        };
        assert!(request.keeps(&connection("a", "slack", "error")));
        assert!(!request.keeps(&connection("b", "slack", "error")));
        assert!(!request.keeps(&connection("a", "salesforce", "error")));
        assert!(!request.keeps(&connection("a", "github", "active")));
        assert!(ScanRequest::default().keeps(&connection("z", "any", "mystery")));
    }

    #[test]
    fn a_repeated_cursor_is_refused() {
        assert!(next_cursor(Some("c1"), Some("c1".into())).is_err());
        assert_eq!(next_cursor(Some("c1"), Some("c2".into())).unwrap().as_deref(), Some("c2"));
        assert_eq!(next_cursor(Some("c1"), Some(String::new())).unwrap(), None);
    }
}
