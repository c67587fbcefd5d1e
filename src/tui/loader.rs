//! The dashboard's loader: runs a [`crate::scan`] that also lists the contexts, loads the
//! connectors and (when still unknown) the catalog URL, and sends each page to the state owner
//! as it arrives, tagged with its generation. Every stream ends with exactly one `Finished`
//! event.

use std::pin::pin;

use futures::TryStreamExt as _;
use tokio::sync::mpsc;

use super::action::{Action, LoadEvent, Stream};
use crate::client::Client;
use crate::scan::{self, RowBudget, ScanMode, ScanRequest};

/// Connectors asked for per page.
const PAGE_SIZE: u32 = 200;

/// How hard a scan may work the server, and how much of it the dashboard keeps.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    /// Per-context requests at once, when the server lacks the bulk listing.
    pub concurrency: usize,
    /// The most connections kept, and separately the most contexts and connectors.
    pub max_connections: usize,
    /// From this many connections, a server that keeps totals is not scanned (0: never).
    pub remote_threshold: u64,
}

struct Reporter {
    tx: mpsc::Sender<Action>,
    generation: u64,
}

impl Reporter {
    /// Sends one event; false when the dashboard has gone away.
    async fn send(&self, event: LoadEvent) -> bool {
        self.tx.send(Action::Scan { generation: self.generation, event }).await.is_ok()
    }

    async fn finished(&self, stream: Stream, result: Result<(), String>) -> bool {
        if let Err(error) = &result {
            tracing::warn!(?stream, %error, "scan stream failed");
        }
        self.send(LoadEvent::Finished { stream, result }).await
    }
}

/// Runs one scan to completion. `probe` (a target's first scan) asks for the server's totals
/// first: a large platform on a server that keeps them is not scanned, its panes read what
/// they show (`remote.rs`); only its connectors and catalog are loaded here.
pub async fn run(
    client: Client,
    generation: u64,
    catalog: bool,
    probe: bool,
    limits: ScanLimits,
    tx: mpsc::Sender<Action>,
) {
    let reporter = Reporter { tx, generation };
    if probe {
        match client.stats().await {
            Ok(stats) if stats.connections >= limits.remote_threshold => {
                if !reporter.send(LoadEvent::Remote(Box::new(stats))).await {
                    return;
                }
                tokio::join!(
                    load_catalog(&client, &reporter, catalog),
                    load_connectors(&client, &reporter, limits.max_connections),
                );
                reporter.finished(Stream::Contexts, Ok(())).await;
                reporter.finished(Stream::Connections, Ok(())).await;
                return;
            }
            Ok(_) => tracing::info!("a small platform: loading it whole"),
            Err(error) => tracing::info!(%error, "no totals from the server: loading everything"),
        }
    }
    tokio::join!(
        load_catalog(&client, &reporter, catalog),
        load_connectors(&client, &reporter, limits.max_connections),
        load_contexts_and_connections(&client, &reporter, limits),
    );
}

async fn load_catalog(client: &Client, reporter: &Reporter, wanted: bool) {
    if wanted {
        let result = client.platform().await.map(|platform| platform.hosted_catalog_url()).map_err(|e| e.to_string());
        if let Err(error) = &result {
            tracing::warn!(%error, "cannot read the platform record for the catalog URL");
        }
        reporter.send(LoadEvent::Catalog(result)).await;
    }
}

async fn load_connectors(client: &Client, reporter: &Reporter, max_connectors: usize) {
    let budget = RowBudget::new(client, max_connectors, "connectors");
    let mut pages =
        pin!(client.pages(|cursor| async move { client.list_connectors(cursor.as_deref(), Some(PAGE_SIZE)).await }));
    let result = loop {
        match pages.try_next().await {
            Ok(Some(page)) => {
                if let Err(error) = budget.take(page.connectors.len()) {
                    break Err(error.to_string());
                }
                if !reporter.send(LoadEvent::ConnectorsPage(page.connectors)).await {
                    return;
                }
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(error.to_string()),
        }
    };
    reporter.finished(Stream::Connectors, result).await;
}

/// Adapts the shared scan's events; its contexts listing feeds the contexts pane.
async fn load_contexts_and_connections(client: &Client, reporter: &Reporter, limits: ScanLimits) {
    let request = ScanRequest {
        concurrency: limits.concurrency,
        max_connections: limits.max_connections,
        list_contexts: true,
        ..ScanRequest::default()
    };
    let mut scan = scan::start(client.clone(), request);
    let mut fallback = false;
    let mut contexts_pending = true;
    while let Some(event) = scan.events.recv().await {
        let event = match event {
            scan::ScanEvent::Mode(mode) => {
                fallback = mode == ScanMode::PerContext;
                if fallback {
                    tracing::info!("the server has no bulk connections listing; fetching per context");
                }
                continue;
            }
            scan::ScanEvent::Contexts(contexts) => LoadEvent::ContextsPage(contexts),
            scan::ScanEvent::ContextsListed(result) => {
                contexts_pending = false;
                if !reporter.finished(Stream::Contexts, result.map_err(|e| e.to_string())).await {
                    return;
                }
                continue;
            }
            scan::ScanEvent::Page { connections, .. } => LoadEvent::ConnectionsPage { connections, fallback },
            scan::ScanEvent::Finished(result) => {
                reporter.finished(Stream::Connections, result.map(drop).map_err(|e| e.to_string())).await;
                return;
            }
        };
        if !reporter.send(event).await {
            return;
        }
    }
    // The scan task died without finishing (a panic): end both streams all the same.
    let lost = || Err("the scan stopped unexpectedly".to_owned());
    if contexts_pending {
        reporter.finished(Stream::Contexts, lost()).await;
    }
    reporter.finished(Stream::Connections, lost()).await;
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::client::{ApiTarget, ClientOptions};
    use crate::server::{ServerConfig, create_key_pair, start};

    /// What one scan reported: per stream, the rows delivered and the outcomes (in order).
    #[derive(Default)]
    struct Report {
        rows: HashMap<Stream, usize>,
        outcomes: HashMap<Stream, Vec<Result<(), String>>>,
        catalog: Vec<Result<String, String>>,
        /// The totals, when the scan went remote-backed.
        remote: Option<u64>,
    }

    const LIMITS: ScanLimits = ScanLimits {
        concurrency: 4,
        max_connections: scan::DEFAULT_MAX_CONNECTIONS,
        remote_threshold: crate::tui::remote::REMOTE_FROM_CONNECTIONS,
    };

    async fn report_of(client: Client, limits: ScanLimits) -> Report {
        let (tx, mut rx) = mpsc::channel(16);
        tokio::spawn(run(client, 7, true, true, limits, tx));
        let mut report = Report::default();
        while let Some(action) = rx.recv().await {
            let Action::Scan { generation: 7, event } = action else { panic!("untagged: {action:?}") };
            let (stream, rows) = match event {
                LoadEvent::Catalog(result) => {
                    report.catalog.push(result);
                    continue;
                }
                LoadEvent::Remote(stats) => {
                    report.remote = Some(stats.connections);
                    continue;
                }
                LoadEvent::Finished { stream, result } => {
                    report.outcomes.entry(stream).or_default().push(result);
                    continue;
                }
                LoadEvent::ContextsPage(page) => (Stream::Contexts, page.len()),
                LoadEvent::ConnectorsPage(page) => (Stream::Connectors, page.len()),
                LoadEvent::ConnectionsPage { connections, fallback } => {
                    assert!(!fallback, "the bundled server has the bulk route");
                    (Stream::Connections, connections.len())
                }
            };
            assert!(!report.outcomes.contains_key(&stream), "{stream:?} page after its end");
            *report.rows.entry(stream).or_default() += rows;
        }
        report
    }

    /// The bundled demo server (small) and a client of it; the server lives as long as the dir.
    async fn demo() -> (tempfile::TempDir, crate::server::RunningServer, Client) {
        let dir = tempfile::tempdir().unwrap();
        let server = start(ServerConfig { demo: true, ..ServerConfig::new(dir.path()) }).await.unwrap();
        let keys = create_key_pair(dir.path()).unwrap();
        let target = ApiTarget {
            api_url: server.base_url(),
            publishable_key: keys.publishable_key.clone(),
            secret_key: keys.secret_key.clone(),
        };
        let client = Client::new(&target, &ClientOptions::default()).unwrap();
        (dir, server, client)
    }

    #[tokio::test]
    async fn every_stream_ends_once_with_what_the_server_has() {
        let (_dir, _server, client) = demo().await;
        let contexts = client.list_contexts(None, None, Some(1000)).await.unwrap().contexts.len();
        let connectors = client.list_connectors(None, Some(1000)).await.unwrap().connectors.len();
        let connections = scan::collect(client.clone(), ScanRequest::default()).await.unwrap().len();

        let report = report_of(client, LIMITS).await;
        assert_eq!(report.remote, None, "the demo is small: it is loaded whole");
        assert_eq!(report.rows[&Stream::Contexts], contexts);
        assert_eq!(report.rows[&Stream::Connectors], connectors);
        assert_eq!(report.rows[&Stream::Connections], connections);
        for stream in [Stream::Contexts, Stream::Connectors, Stream::Connections] {
            assert!(matches!(report.outcomes[&stream][..], [Ok(())]), "{stream:?}: {:?}", report.outcomes[&stream]);
        }
        assert!(matches!(report.catalog[..], [Ok(_)]), "{:?}", report.catalog);
    }

    #[tokio::test]
    async fn an_unreachable_server_fails_every_stream_once() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let target = ApiTarget {
            api_url: format!("http://127.0.0.1:{port}"),
            publishable_key: "pk".into(),
            secret_key: "sk".into(),
        };
        let report = report_of(Client::new(&target, &ClientOptions::default()).unwrap(), LIMITS).await;
        for stream in [Stream::Contexts, Stream::Connectors, Stream::Connections] {
            let outcomes = &report.outcomes[&stream];
            assert!(
                matches!(&outcomes[..], [Err(error)] if error.contains("cannot reach")),
                "{stream:?}: {outcomes:?}"
            );
        }
        assert!(matches!(report.catalog[..], [Err(_)]));
    }

    #[tokio::test]
    async fn a_remote_threshold_of_zero_reads_pages_even_of_a_small_platform() {
        let (_dir, _server, client) = demo().await;
        let connections = client.stats().await.unwrap().connections;
        assert!(connections < LIMITS.remote_threshold, "the demo is under the default threshold");
        let report = report_of(client, ScanLimits { remote_threshold: 0, ..LIMITS }).await;
        assert_eq!(report.remote, Some(connections), "0: remote-backed whenever the server has /stats");
        assert_eq!(report.rows.get(&Stream::Contexts), None, "the contexts are not scanned");
        assert_eq!(report.rows.get(&Stream::Connections), None, "nor the connections");
        assert!(report.rows[&Stream::Connectors] > 0, "the connectors are loaded as always");
    }
}
