//! `serve --demo-scale N`: the generated platform, read back over HTTP from the real server.

use std::collections::BTreeMap;

use tempfile::TempDir;
use xkit_dash::model::{Authorization, Connection, Health};
use xkit_dash::scan::{self, ScanRequest};
use xkit_dash::server::{scale, seed};

use crate::support::server::TestPlatform;

const CONNECTIONS: usize = 1_200;

/// Every connection the server lists for a data directory, through the bulk route.
async fn served_connections(dir: TempDir) -> Vec<Connection> {
    let platform = TestPlatform::in_dir(dir, |config| config).await;
    let connections = scan::collect(platform.client(), ScanRequest::default()).await.expect("scan");
    platform.server.shutdown().await;
    connections
}

fn health_shares(healths: impl Iterator<Item = Health>) -> BTreeMap<Health, f64> {
    let mut counts = BTreeMap::new();
    let mut total = 0.0;
    for health in healths {
        *counts.entry(health).or_insert(0.0) += 1.0;
        total += 1.0;
    }
    counts.into_iter().map(|(health, count)| (health, count / total)).collect()
}

#[tokio::test]
async fn generated_platform_has_the_requested_size_and_the_demo_mix() {
    let dir = tempfile::tempdir().unwrap();
    let report = scale::seed(dir.path(), CONNECTIONS).await.unwrap();
    assert_eq!(report.connections_added, CONNECTIONS);
    assert_eq!(report.contexts_added, scale::context_count(CONNECTIONS));
    assert_eq!(report.contexts_added, 240);

    let connections = served_connections(dir).await;
    assert_eq!(connections.len(), CONNECTIONS);
    let mut per_context = BTreeMap::<String, usize>::new();
    for connection in &connections {
        let context = connection.context.as_ref().expect("bulk rows name their context");
        *per_context.entry(context.external_id.clone()).or_default() += 1;
    }
    assert_eq!(per_context.len(), 240);
    assert!(per_context.values().all(|&count| count == scale::CONNECTIONS_PER_CONTEXT));

    // The demo's shares of each health, within a few points (a hash picks the templates).
    let demo = seed::parse(seed::DEMO, "demo").unwrap();
    let expected = health_shares(demo.connections.iter().map(|template| {
        Health::of(Some(&Connection {
            id: String::new(),
            enabled: template.enabled,
            connector: Default::default(),
            authorization: template
                .authorization
                .as_ref()
                .map(|record| Authorization { status: record.status.clone(), ..Default::default() }),
            context: None,
        }))
    }));
    let served = health_shares(connections.iter().map(|connection| Health::of(Some(connection))));
    assert_eq!(served.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>());
    for (health, share) in &expected {
        let got = served[health];
        assert!((got - share).abs() < 0.04, "{health:?}: {got:.3} served, {share:.3} in the demo");
    }
    let connectors: std::collections::BTreeSet<_> = connections.iter().map(|c| c.connector.slug.as_str()).collect();
    let demo_connectors: std::collections::BTreeSet<_> =
        demo.connections.iter().map(|connection| connection.connector_slug.as_str()).collect();
    assert_eq!(connectors.len(), demo_connectors.len(), "every connector of a demo connection is used");
}

#[tokio::test]
async fn generation_is_deterministic_and_seeding_again_adds_nothing() {
    let first = scale::batch(300).unwrap();
    let second = scale::batch(300).unwrap();
    let key = |batch: &xkit_dash::server::store::ImportBatch| {
        batch
            .connections
            .iter()
            .map(|c| {
                let status = c.authorization.as_ref().map(|a| a.status.as_str().to_owned());
                (c.id.clone(), c.context_external_id.clone(), c.connector_slug.clone(), c.enabled, status)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&first), key(&second));
    assert_eq!(first.contexts, second.contexts);
    let ids: std::collections::HashSet<_> = first.connections.iter().map(|c| &c.id).collect();
    assert_eq!(ids.len(), 300, "ids are unique");

    // A smaller platform is a prefix of a larger one, so growing a data directory keeps its data.
    let larger = scale::batch(600).unwrap();
    assert_eq!(key(&first)[..], key(&larger)[..300]);

    let dir = tempfile::tempdir().unwrap();
    assert_eq!(scale::seed(dir.path(), 300).await.unwrap().connections_added, 300);
    let again = scale::seed(dir.path(), 300).await.unwrap();
    assert_eq!((again.connections_added, again.contexts_added), (0, 0));
    let grown = scale::seed(dir.path(), 600).await.unwrap();
    assert_eq!((grown.connections_added, grown.contexts_added), (300, 60));
    let served = served_connections(dir).await;
    assert_eq!(served.len(), 600);
    let served_ids: Vec<_> = served.iter().map(|c| c.id.clone()).collect();
    let generated_ids: Vec<_> = larger.connections.iter().map(|c| c.id.clone()).collect();
    assert_eq!(served_ids, generated_ids, "served in generation order");
}

#[tokio::test]
async fn expired_generated_tokens_really_refresh_against_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    scale::seed(dir.path(), 400).await.unwrap();
    let platform = TestPlatform::in_dir(dir, |config| config).await;
    let client = platform.client();
    let now = chrono::Utc::now();
    let connections = scan::collect(client.clone(), ScanRequest::default()).await.unwrap();
    let expired: Vec<&Connection> = connections
        .iter()
        .filter(|connection| Health::of(Some(connection)) == Health::Active)
        .filter(|connection| connection.authorization.as_ref().and_then(|a| a.expires_at).is_some_and(|at| at < now))
        .take(3)
        .collect();
    assert!(!expired.is_empty(), "the demo mix includes expired active tokens");
    for connection in expired {
        let read = client.get_connection_by_id(&connection.id).await.unwrap().connection;
        assert_eq!(Health::of(Some(&read)), Health::Active, "{:?} was not refreshed: {read:?}", connection.id);
        let authorization = read.authorization.expect("an authorization");
        assert!(authorization.expires_at.is_some_and(|at| at > now), "a new expiry");
        assert!(authorization.secret().is_some_and(|token| !token.starts_with("demo_at_")), "a new access token");
    }
    platform.server.shutdown().await;
}
