//! Walks every connection of a platform, page by page, for `check`, `connections` and the
//! dashboard.
//!
//! The scan prefers the bulk `GET /connections` extension: one NDJSON stream for the whole
//! platform where the server offers it, else one paged listing. A server that answers 404 to
//! it gets what Xkit itself offered: each context's connections are fetched, at most
//! `concurrency` at a time, starting as soon as the contexts listing pages them in (or from the
//! contexts the request names). Asked to, the scan also
//! sends that contexts listing (a dashboard shows it), in bulk mode as well. Results arrive over
//! a channel as [`ScanEvent`]s, so a UI stays responsive and a CLI can stream its output;
//! dropping the [`Scan`] stops the work.

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::{Stream, StreamExt as _, TryStreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::client::{Client, ClientError, ConnectionFilter, ConnectionListing};
use crate::model::{Connection, Context, ContextRef, Health};

/// Concurrent per-context requests when falling back to the fan-out.
pub const DEFAULT_CONCURRENCY: usize = 16;
/// Page size asked of the bulk and contexts listings.
const PAGE_SIZE: u32 = 500;
/// Events buffered before the scan waits for its consumer: a few pages of up to 500, so when
/// the consumer is the slower side (a CLI writing its output) the rows waiting for it stay a few
/// thousand (64 let the client of a streamed million grow from 29 to 45 MB under load).
const CHANNEL_CAPACITY: usize = 8;
/// The most connections (and, separately, contexts) one scan takes from the server unless told
/// otherwise. The dashboard keeps every row, and a hostile server can make each connection bring
/// a context of its own: measured against one, the dashboard peaked at 211 MB at 100,000 and
/// 316 MB at 150,000, so 100,000 keeps it under the 300 MB a runaway server may cost us (a
/// real platform's 100,000 connections take ~140 MiB). Bigger platforms raise it (flag or
/// profile).
pub const DEFAULT_MAX_CONNECTIONS: usize = 100_000;

/// A cap on the rows the listings of one scan may bring in, shared by every listing it runs at
/// once (so a fan-out cannot multiply it). Rows are counted as received, before filtering: a
/// server that ignores the filters costs the same.
pub struct RowBudget {
    server: String,
    noun: &'static str,
    limit: usize,
    taken: AtomicUsize,
}

impl RowBudget {
    /// `noun` names the rows in the error (`"connections"`).
    pub fn new(client: &Client, limit: usize, noun: &'static str) -> Self {
        Self { server: client.base_url().to_string(), noun, limit, taken: AtomicUsize::new(0) }
    }

    /// Counts `rows` more, or fails once the total passes the limit.
    pub fn take(&self, rows: usize) -> Result<(), ClientError> {
        let taken = self.taken.fetch_add(rows, Ordering::Relaxed).saturating_add(rows);
        if taken <= self.limit {
            return Ok(());
        }
        Err(ClientError::LimitReached(format!(
            "{} has more than {} {}; stopped (raise --max-connections or max_connections in the profile)",
            self.server, self.limit, self.noun
        )))
    }
}

/// What to scan; empty lists mean "all".
#[derive(Debug, Clone)]
pub struct ScanRequest {
    /// Context `external_id`s to scan; the fan-out then needs no context listing.
    pub contexts: Vec<String>,
    /// Connector slugs to keep.
    pub connectors: Vec<String>,
    /// Keep only connections of this health.
    pub health: Option<Health>,
    /// Ask the server for only the connections whose access token expires within this (or has
    /// expired). A server without the filter sends them all: the caller checks the expiry.
    pub expiring_within: Option<std::time::Duration>,
    /// Per-context requests at once in the fan-out.
    pub concurrency: usize,
    /// Also list every context of the platform (unfiltered) and send it as
    /// [`ScanEvent::Contexts`] pages, then one [`ScanEvent::ContextsListed`].
    pub list_contexts: bool,
    /// The most connections the scan takes from the server, and separately the most contexts
    /// it lists; past either, it fails with [`ClientError::LimitReached`].
    pub max_connections: usize,
}

impl Default for ScanRequest {
    fn default() -> Self {
        Self {
            contexts: Vec::new(),
            connectors: Vec::new(),
            health: None,
            expiring_within: None,
            concurrency: DEFAULT_CONCURRENCY,
            list_contexts: false,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
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
    /// Contexts to fetch as far as known: it grows while the contexts listing pages in
    /// (per-context mode only).
    pub contexts_total: Option<usize>,
}

/// One step of a scan. A scan sends any number of the other events and then exactly one
/// `Finished`.
#[derive(Debug)]
pub enum ScanEvent {
    /// The route in use; sent once, before the first page.
    Mode(ScanMode),
    /// Connections found, each with its `context` set, filtered as requested.
    Page { connections: Vec<Connection>, progress: ScanProgress },
    /// The end of the scan: its final progress, or why it stopped.
    Finished(Result<ScanProgress, ClientError>),
    /// A page of the contexts listing, when [`ScanRequest::list_contexts`] asks for it.
    Contexts(Vec<Context>),
    /// The end of the contexts listing, when asked for: sent once, before `Finished`.
    ContextsListed(Result<(), ClientError>),
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
        let events = Events(sender);
        match run(&client, &request, &events).await {
            Ok(progress) => events.finish(Ok(progress)).await,
            Err(Stop::Failed(error)) => events.finish(Err(error)).await,
            Err(Stop::Abandoned) => {}
        }
    });
    Scan { events, task }
}

/// Collects a whole scan into memory (for callers that need everything before output).
pub async fn collect(client: Client, request: ScanRequest) -> Result<Vec<Connection>, ClientError> {
    let mut scan = start(client, request);
    let mut all = Vec::new();
    while let Some(event) = scan.events.recv().await {
        match event {
            ScanEvent::Mode(_) | ScanEvent::Contexts(_) | ScanEvent::ContextsListed(_) => {}
            ScanEvent::Page { connections, .. } => all.extend(connections),
            ScanEvent::Finished(outcome) => return outcome.map(|_| all),
        }
    }
    Err(ClientError::InvalidResponse("the scan stopped unexpectedly".into()))
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

struct Events(mpsc::Sender<ScanEvent>);

impl Events {
    async fn send(&self, event: ScanEvent) -> Result<(), Abandoned> {
        self.0.send(event).await.map_err(|_| Abandoned)
    }

    async fn finish(&self, outcome: Result<ScanProgress, ClientError>) {
        // Nobody to tell when the consumer is gone.
        let _ = self.send(ScanEvent::Finished(outcome)).await;
    }
}

/// Scans the connections and, alongside, lists the contexts: from the start when the request
/// wants them, else only once the fan-out needs them.
async fn run(client: &Client, request: &ScanRequest, events: &Events) -> Result<ScanProgress, Stop> {
    let (wanted, wanted_signal) = oneshot::channel();
    let (found, found_contexts) = unbounded();
    let listing = async {
        if !request.list_contexts && wanted_signal.await.is_err() {
            return Ok(());
        }
        let shown = request.list_contexts.then_some(events);
        let budget = RowBudget::new(client, request.max_connections, "contexts");
        let listed = list_contexts(client, &budget, shown, found).await;
        if request.list_contexts {
            let outcome = match &listed {
                Ok(()) => Ok(()),
                Err(Stop::Failed(error)) => Err(error.clone()),
                Err(Stop::Abandoned) => return listed,
            };
            events.send(ScanEvent::ContextsListed(outcome)).await?;
        }
        listed
    };
    let mut scanner = Scanner {
        client,
        request,
        events,
        budget: &RowBudget::new(client, request.max_connections, "connections"),
        progress: ScanProgress::default(),
        mode: None,
        wanted: Some(wanted),
        found_contexts: Some(found_contexts),
    };
    let (listed, scanned) = tokio::join!(listing, scanner.run());
    scanned?;
    let fanned_out_over_listing = scanner.mode == Some(ScanMode::PerContext) && request.contexts.is_empty();
    match listed {
        // The fan-out saw only part of the contexts.
        Err(Stop::Failed(ClientError::NotFound(_))) if fanned_out_over_listing => {
            Err(Stop::Failed(ClientError::NotFound(
                "the server offers neither GET /connections nor GET /contexts; name the contexts to scan".into(),
            )))
        }
        Err(stop) if fanned_out_over_listing => Err(stop),
        _ => Ok(scanner.progress),
    }
}

/// Pages through `GET /contexts`, handing each context to the fan-out (if it still listens)
/// and each page to `shown` (if given).
async fn list_contexts(
    client: &Client,
    budget: &RowBudget,
    shown: Option<&Events>,
    found: UnboundedSender<ContextRef>,
) -> Result<(), Stop> {
    let mut pages = pin!(
        client.pages(|cursor| async move { client.list_contexts(None, cursor.as_deref(), Some(PAGE_SIZE)).await })
    );
    while let Some(page) = pages.try_next().await? {
        budget.take(page.contexts.len())?;
        for context in &page.contexts {
            // Refused once the bulk listing works or the fan-out has stopped; that is fine.
            let _ = found.unbounded_send(ContextRef {
                external_id: context.external_id.clone(),
                external_name: context.external_name.clone(),
            });
        }
        match shown {
            Some(events) => events.send(ScanEvent::Contexts(page.contexts)).await?,
            None if found.is_closed() => break,
            None => {}
        }
    }
    Ok(())
}

struct Scanner<'a> {
    client: &'a Client,
    request: &'a ScanRequest,
    events: &'a Events,
    /// Connections received, over every listing of the scan.
    budget: &'a RowBudget,
    progress: ScanProgress,
    mode: Option<ScanMode>,
    /// Starts the contexts listing for the fan-out (when the request did not already).
    wanted: Option<oneshot::Sender<()>>,
    /// Contexts as the listing finds them; dropped once the bulk listing works.
    found_contexts: Option<UnboundedReceiver<ContextRef>>,
}

impl Scanner<'_> {
    async fn run(&mut self) -> Result<(), Stop> {
        let scanned = self.scan().await;
        // Let a listing that waits to be wanted, or that only feeds the fan-out, end.
        self.wanted = None;
        self.found_contexts = None;
        scanned
    }

    async fn scan(&mut self) -> Result<(), Stop> {
        match self.run_bulk().await {
            Err(Stop::Failed(ClientError::NotFound(_))) if self.mode.is_none() => {
                tracing::debug!("GET /connections is not offered; scanning per context");
                self.announce(ScanMode::PerContext).await?;
                if self.request.contexts.is_empty() {
                    let found = self.found_contexts.take().expect("taken only here");
                    if let Some(wanted) = self.wanted.take() {
                        let _ = wanted.send(());
                    }
                    self.fan_out(found, false).await
                } else {
                    let named: Vec<ContextRef> = self
                        .request
                        .contexts
                        .iter()
                        .map(|id| ContextRef { external_id: id.clone(), external_name: None })
                        .collect();
                    self.fan_out(futures::stream::iter(named), true).await
                }
            }
            other => other,
        }
    }

    async fn announce(&mut self, mode: ScanMode) -> Result<(), Abandoned> {
        self.mode = Some(mode);
        // The listing no longer needs to feed (or wait for) a fan-out that is not coming.
        if mode == ScanMode::Bulk || !self.request.contexts.is_empty() {
            self.wanted = None;
            self.found_contexts = None;
        }
        self.events.send(ScanEvent::Mode(mode)).await
    }

    /// Lists `GET /connections` (streamed, else paged), once per requested context and
    /// connector (or once for all), so each listing is narrowed by the server.
    async fn run_bulk(&mut self) -> Result<(), Stop> {
        let each = |names: &[String]| -> Vec<Option<String>> {
            if names.is_empty() { vec![None] } else { names.iter().cloned().map(Some).collect() }
        };
        let client = self.client;
        for context in each(&self.request.contexts) {
            for connector in each(&self.request.connectors) {
                let filter = ConnectionFilter {
                    health: self.request.health,
                    connector,
                    context: context.clone(),
                    expiring_within: self.request.expiring_within,
                };
                self.run_listing(client, &filter).await?;
            }
        }
        Ok(())
    }

    /// One filtered listing. Server-side filters narrow the transfer; the same filters are
    /// applied again locally, so a server that ignores a parameter still gives the right answer
    /// (and, listing per connector or context, never the same connection twice).
    async fn run_listing(&mut self, client: &Client, filter: &ConnectionFilter) -> Result<(), Stop> {
        // The stream, when the server offers it; else its first page, and then the others.
        let mut first_page = match client.export_connections(filter, PAGE_SIZE).await {
            Ok(ConnectionListing::Stream(batches)) => return self.run_stream(filter, batches).await,
            Ok(ConnectionListing::FirstPage(page)) => Some(page),
            Err(error) if error.is_transient() => None,
            Err(error) => return Err(error.into()),
        };
        let mut pages = pin!(client.pages(|cursor| {
            let first_page = first_page.take();
            async move {
                match first_page {
                    Some(page) => Ok(page),
                    None => client.list_connections(filter, cursor.as_deref(), Some(PAGE_SIZE)).await,
                }
            }
        }));
        while let Some(page) = pages.try_next().await? {
            if self.mode.is_none() {
                self.announce(ScanMode::Bulk).await?;
            }
            self.budget.take(page.connections.len())?;
            self.deliver(listed_by(filter, page.connections)).await?;
        }
        Ok(())
    }

    /// Takes a streamed listing, batch by batch, within the row budget.
    async fn run_stream(
        &mut self,
        filter: &ConnectionFilter,
        batches: impl Stream<Item = Result<Vec<Connection>, ClientError>>,
    ) -> Result<(), Stop> {
        if self.mode.is_none() {
            self.announce(ScanMode::Bulk).await?;
        }
        let mut batches = pin!(batches);
        while let Some(connections) = batches.try_next().await? {
            self.budget.take(connections.len())?;
            self.deliver(listed_by(filter, connections)).await?;
        }
        Ok(())
    }

    /// Fetches each context's connections as the contexts arrive, a bounded number at a time.
    /// A context that fails is counted and the rest still scanned, unless the target itself
    /// fails (then the rest would fail alike).
    async fn fan_out(&mut self, contexts: impl Stream<Item = ContextRef>, named: bool) -> Result<(), Stop> {
        let (client, budget) = (self.client, self.budget);
        let seen = AtomicUsize::new(0);
        let mut fetches = pin!(
            contexts
                .inspect(|_| {
                    seen.fetch_add(1, Ordering::Relaxed);
                })
                .map(|context| async move {
                    let result = context_connections(client, budget, &context).await;
                    (context, result)
                })
                .buffer_unordered(self.request.concurrency.max(1))
        );
        let mut failures = 0;
        let mut last_failure = None;
        while let Some((context, result)) = fetches.next().await {
            self.progress.contexts_done += 1;
            self.progress.contexts_total = Some(seen.load(Ordering::Relaxed));
            match result {
                Ok(connections) => self.deliver(connections).await?,
                // A listed context deleted since the listing is simply gone.
                Err(ClientError::NotFound(_)) if !named => {}
                Err(error) if error.is_target_failure() => return Err(error.into()),
                Err(error) => {
                    failures += 1;
                    last_failure = Some((context.external_id, error));
                }
            }
        }
        let Some((external_id, error)) = last_failure else { return Ok(()) };
        let total = seen.load(Ordering::Relaxed);
        Err(Stop::Failed(reworded(error, |message| {
            format!("{failures} of {total} contexts failed; last: context {external_id:?}: {message}")
        })))
    }

    async fn deliver(&mut self, connections: Vec<Connection>) -> Result<(), Abandoned> {
        let connections: Vec<Connection> =
            connections.into_iter().filter(|connection| self.request.keeps(connection)).collect();
        self.progress.connections += connections.len();
        let progress = self.progress;
        self.events.send(ScanEvent::Page { connections, progress }).await
    }
}

/// The connections of a bulk listing that its own connector and context filters select.
fn listed_by(filter: &ConnectionFilter, mut connections: Vec<Connection>) -> Vec<Connection> {
    connections.retain(|connection| {
        filter.connector.as_ref().is_none_or(|slug| *slug == connection.connector.slug)
            && filter.context.as_ref().is_none_or(|external_id| {
                connection.context.as_ref().is_some_and(|context| context.external_id == *external_id)
            })
    });
    connections
}

/// Every page of one context's connections, each stamped with the context it belongs to (Xkit's
/// own route had no paging; ours may).
async fn context_connections(
    client: &Client,
    budget: &RowBudget,
    context: &ContextRef,
) -> Result<Vec<Connection>, ClientError> {
    let external_id = context.external_id.as_str();
    client
        .pages(|cursor| async move { client.context_connections(external_id, cursor.as_deref()).await })
        .try_fold(Vec::new(), |mut connections, page| async move {
            budget.take(page.connections.len())?;
            connections.extend(page.connections.into_iter().map(|mut connection| {
                connection.context.get_or_insert_with(|| context.clone());
                connection
            }));
            Ok(connections)
        })
        .await
}

/// The same failure with a message that says more: the variant stays, as the CLI's exit code
/// depends on it.
fn reworded(error: ClientError, reword: impl FnOnce(&str) -> String) -> ClientError {
    match error {
        ClientError::NotFound(message) => ClientError::NotFound(reword(&message)),
        ClientError::Transient { status, message, retry_after } => {
            ClientError::Transient { status, message: reword(&message), retry_after }
        }
        ClientError::Api { status, message } => ClientError::Api { status, message: reword(&message) },
        // Target failures stop a fan-out at once; their own message says it all.
        target_failure => target_failure,
    }
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
    fn a_reworded_failure_keeps_its_kind() {
        let error =
            reworded(ClientError::Api { status: 500, message: "boom".into() }, |message| format!("2 of 9: {message}"));
        assert!(matches!(error, ClientError::Api { status: 500, ref message } if message == "2 of 9: boom"));
        let error = reworded(ClientError::NotFound("gone".into()), |message| format!("x: {message}"));
        assert!(matches!(error, ClientError::NotFound(ref message) if message == "x: gone"));
    }
}
