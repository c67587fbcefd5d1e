//! The shared scan (`xkit_dash::scan`, used by the CLI and the dashboard) against the real
//! bundled demo server on 127.0.0.1: the bulk route with the contexts listing alongside, and
//! without the bulk route, the fan-out that starts while the contexts page in.

use std::collections::BTreeSet;

use crate::support::proxy::{Quirks, XkitWithoutExtensions};
use crate::support::server::TestPlatform;
use futures::TryStreamExt as _;
use xkit_dash::client::{Client, ClientError};
use xkit_dash::model::Connection;
use xkit_dash::scan::{self, ScanEvent, ScanMode, ScanProgress, ScanRequest};

/// Every context id of the platform, in listing order, read directly.
async fn context_ids(platform: &TestPlatform) -> Vec<String> {
    let client = &platform.client();
    let pages = client.pages(|cursor| async move { client.list_contexts(None, cursor.as_deref(), None).await });
    let pages: Vec<_> = pages.try_collect().await.unwrap();
    pages.into_iter().flat_map(|page| page.contexts).map(|context| context.external_id).collect()
}

/// Every connection id the bulk route lists, and those Xkit's per-context route shows
/// (enabled ones only).
async fn connection_ids(platform: &TestPlatform) -> (BTreeSet<String>, BTreeSet<String>) {
    let all = scan::collect(platform.client(), ScanRequest::default()).await.unwrap();
    let enabled = all.iter().filter(|connection| connection.enabled).map(|connection| connection.id.clone());
    (all.iter().map(|connection| connection.id.clone()).collect(), enabled.collect())
}

/// Every event of a scan, in order; the scan must end with exactly one `Finished`.
struct Run {
    modes: Vec<ScanMode>,
    contexts: Vec<String>,
    connections: Vec<Connection>,
    contexts_listed: Vec<Result<(), ClientError>>,
    finished: Result<ScanProgress, ClientError>,
}

async fn run(client: Client, request: ScanRequest) -> Run {
    let mut scan = scan::start(client, request);
    let (mut modes, mut contexts, mut connections, mut contexts_listed) = (vec![], vec![], vec![], vec![]);
    let mut finished = None;
    while let Some(event) = scan.events.recv().await {
        assert!(finished.is_none(), "an event after Finished: {event:?}");
        match event {
            ScanEvent::Mode(mode) => modes.push(mode),
            ScanEvent::Contexts(page) => contexts.extend(page.into_iter().map(|context| context.external_id)),
            ScanEvent::ContextsListed(result) => contexts_listed.push(result),
            ScanEvent::Page { connections: page, .. } => connections.extend(page),
            ScanEvent::Finished(outcome) => finished = Some(outcome),
        }
    }
    Run { modes, contexts, connections, contexts_listed, finished: finished.expect("the scan finished") }
}

fn ids(connections: &[Connection]) -> BTreeSet<String> {
    connections.iter().map(|connection| connection.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bulk_scan_also_lists_the_contexts_when_asked() {
    let demo = TestPlatform::demo().await;
    let (all, _) = connection_ids(&demo).await;
    let client = demo.client();

    let run = run(client.clone(), ScanRequest { list_contexts: true, ..ScanRequest::default() }).await;
    assert_eq!(run.modes, [ScanMode::Bulk]);
    assert_eq!(run.contexts, context_ids(&demo).await);
    assert!(matches!(run.contexts_listed[..], [Ok(())]), "{:?}", run.contexts_listed);
    assert_eq!(ids(&run.connections), all);
    assert_eq!(run.finished.unwrap().connections, all.len());

    let run = run_without_contexts(client).await;
    assert!(run.contexts.is_empty() && run.contexts_listed.is_empty(), "contexts only when asked for");
    assert_eq!(ids(&run.connections), all);
}

async fn run_without_contexts(client: Client) -> Run {
    run(client, ScanRequest::default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_bulk_route_contexts_feed_a_bounded_fan_out_as_they_page_in() {
    let demo = TestPlatform::demo().await;
    let (_, enabled) = connection_ids(&demo).await;
    let context_ids = context_ids(&demo).await;
    let quirks = Quirks { contexts_per_page: Some(5), ..Quirks::default() };
    let proxy = XkitWithoutExtensions::with(demo.server.base_url(), quirks).await;

    let request = ScanRequest { list_contexts: true, concurrency: 3, ..ScanRequest::default() };
    let run = run(demo.client_via(&proxy.url), request).await;
    assert_eq!(run.modes, [ScanMode::PerContext]);
    assert!(proxy.refused_bulk_requests() > 0);
    assert_eq!(run.contexts, context_ids, "every contexts page reaches the consumer, in order");
    assert!(matches!(run.contexts_listed[..], [Ok(())]), "{:?}", run.contexts_listed);
    assert_eq!(ids(&run.connections), enabled);
    assert!(run.connections.iter().all(|connection| connection.context.is_some()), "stamped with their context");
    let progress = run.finished.unwrap();
    assert_eq!((progress.contexts_done, progress.contexts_total), (context_ids.len(), Some(context_ids.len())));

    // Each later contexts page was held until some context's connections were answered: only
    // a fan-out that starts before the listing ends releases them.
    let (held, held_too_long) = proxy.held_pages();
    assert_eq!(held_too_long, 0, "the fan-out waited for the whole contexts listing");
    assert!(held >= context_ids.len() / 5 - 1, "{held} pages held");
    let in_flight = proxy.max_per_context_in_flight();
    assert!((1..=3).contains(&in_flight), "{in_flight} per-context requests at once");

    // Without `list_contexts` (as the CLI scans), the same fan-out, no contexts events.
    let run = run_without_contexts(demo.client_via(&proxy.url)).await;
    assert!(run.contexts.is_empty() && run.contexts_listed.is_empty());
    assert_eq!(ids(&run.connections), enabled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_context_is_reported_and_the_others_are_kept() {
    let demo = TestPlatform::demo().await;
    let (_, enabled) = connection_ids(&demo).await;
    let context_ids = context_ids(&demo).await;
    let client = demo.client();
    let broken = context_ids.iter().find(|id| !id.contains('/')).unwrap().clone();
    let broken_connections: BTreeSet<String> =
        client.context_connections(&broken, None).await.unwrap().connections.into_iter().map(|c| c.id).collect();
    assert!(!broken_connections.is_empty(), "the demo's first context has connections");
    let quirks = Quirks { failing_context: Some(broken.clone()), ..Quirks::default() };
    let proxy = XkitWithoutExtensions::with(demo.server.base_url(), quirks).await;

    let run = run(demo.client_via(&proxy.url), ScanRequest { list_contexts: true, ..ScanRequest::default() }).await;
    let expected: BTreeSet<String> = enabled.difference(&broken_connections).cloned().collect();
    assert_eq!(ids(&run.connections), expected, "the other contexts' connections still arrive");
    assert!(matches!(run.contexts_listed[..], [Ok(())]));
    match run.finished {
        Err(ClientError::Api { status: 500, message }) => {
            let summary =
                format!("1 of {} contexts failed; last: context {broken:?}: this context is broken", context_ids.len());
            assert_eq!(message, summary);
        }
        other => panic!("expected the per-context failure, got {other:?}"),
    }
}
