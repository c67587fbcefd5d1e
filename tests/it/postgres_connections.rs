//! PostgreSQL's `ConnectionStore` and `AuthorizationStore` against SQLite's: the demo platform
//! on both backends, the same calls, the same answers (errors included, word for word), the
//! same events; then what only several nodes on one database can do to each other: claims,
//! flow states, one-time tokens and repair links spent by two nodes at once.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::{Value, json};
use xkit_dash::model::{Connection, ConnectionFilter, Health};
use xkit_dash::server::seed;
use xkit_dash::server::store::{
    EventFilter, IssuedTokens, NewFlow, Page, PageRequest, ProviderFailure, RefreshState, ReturningFlow, Store,
    StoreError, StoreResult, actor, export,
};

use crate::support::backends::{Backends, error_kind};
use crate::support::postgres::fresh_database;

/// Runs `$call` with `$store` bound to each backend and asserts equal outcomes (as [`outcome`]
/// with `$volatile` keys masked); the value, or `{"error": "<variant>: <message>"}`.
macro_rules! same {
    ($backends:expr, $volatile:expr, |$store:ident| $call:expr) => {{
        let sqlite = {
            let $store = &$backends.sqlite;
            outcome($call.await, $volatile)
        };
        let postgres = {
            let $store = &$backends.postgres;
            outcome($call.await, $volatile)
        };
        assert_eq!(sqlite, postgres, "sqlite (left) and postgres (right) differ on {}", stringify!($call));
        sqlite.unwrap_or_else(|error| json!({ "error": error }))
    }};
}

/// Keys whose values the backends write at their own moment (or number their own way): only
/// their presence is compared.
const ROW_IDS: &[&str] = &["id_of_authorization", "status_changed_at"];
/// [`ROW_IDS`] and the refresh time a write sets to now.
const WRITTEN: &[&str] = &["id_of_authorization", "status_changed_at", "last_refreshed_at"];

/// A result as comparable JSON: the value with `volatile` keys masked, or the error's variant
/// and message.
fn outcome<T: Serialize>(result: StoreResult<T>, volatile: &[&str]) -> Result<Value, String> {
    match result {
        Ok(value) => Ok(masked(serde_json::to_value(value).unwrap(), volatile)),
        Err(error) => Err(error_text(&error)),
    }
}

fn error_text(error: &StoreError) -> String {
    format!("{}: {error}", error_kind(error))
}

fn masked(mut value: Value, volatile: &[&str]) -> Value {
    mask(&mut value, volatile, false);
    value
}

fn mask(value: &mut Value, volatile: &[&str], in_authorization: bool) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                let name = if in_authorization && key == "id" { "id_of_authorization" } else { key.as_str() };
                if volatile.contains(&name) && !field.is_null() {
                    *field = json!("(set)");
                } else {
                    mask(field, volatile, key == "authorization");
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| mask(item, volatile, false)),
        _ => {}
    }
}

/// Every page of a listing, walked with `limit`: each page's items and whether another follows.
async fn walk<F, Fut>(limit: usize, mut list: F) -> StoreResult<Value>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Page<Connection>>>,
{
    let mut pages = Vec::new();
    let mut cursor = None;
    for _ in 0..1000 {
        let page = list(PageRequest { limit, cursor: cursor.clone() }).await?;
        pages.push(json!({"items": masked(serde_json::to_value(&page.items).unwrap(), ROW_IDS),
            "more": page.next_cursor.is_some()}));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(Value::Array(pages)),
        }
    }
    panic!("a listing of the demo platform did not end within 1000 pages");
}

/// An export's lines: the connection as listed, one JSON object a line.
fn export_line(connection: &Connection, lines: &mut Vec<u8>) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *lines, &masked(serde_json::to_value(connection)?, ROW_IDS))?;
    lines.push(b'\n');
    Ok(())
}

async fn exported(store: &Store, filter: ConnectionFilter, chunk: usize) -> Vec<Value> {
    lines_of(store.export_connections(filter, chunk, export_line).unwrap()).await
}

async fn lines_of(mut export: export::Export) -> Vec<Value> {
    let mut bytes = Vec::new();
    while let Some(chunk) = tokio::time::timeout(Duration::from_secs(10), export.next_chunk()).await.unwrap() {
        bytes.extend(chunk.unwrap());
    }
    String::from_utf8(bytes).unwrap().lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// Every connection of the demo, as `(context, connector, id)`.
async fn demo_connections(store: &Store) -> Vec<(String, String, String)> {
    let page = store.list_connections(ConnectionFilter::default(), PageRequest { limit: 10_000, cursor: None });
    let connections = page.await.unwrap().items;
    connections.into_iter().map(|c| (c.context.unwrap().external_id, c.connector.slug, c.id)).collect()
}

/// The connection's events, oldest first, without their ids and times.
async fn events_of(store: &Store, connection: &str) -> Value {
    let filter = EventFilter { connection: Some(connection.to_owned()), ..Default::default() };
    let page = store.events(filter, None, 1000).await.unwrap();
    page.events
        .into_iter()
        .map(|event| json!([event.event_type, event.actor, event.context, event.connector, event.payload]))
        .collect()
}

fn refresh_json(state: &RefreshState) -> Value {
    use secrecy::ExposeSecret as _;
    json!({
        "id": state.connection_id, "enabled": state.enabled, "status": state.status,
        "refresh_token": state.refresh_token.as_ref().map(|token| token.expose_secret().to_owned()),
        "expires_at": state.expires_at, "last_refreshed_at": state.last_refreshed_at.is_some(),
        "oauth": state.oauth.as_ref().map(|oauth| json!([oauth.authorize_url, oauth.token_url, oauth.client_id,
            oauth.client_secret.expose_secret(), oauth.scopes])),
    })
}

fn flow_json(flow: &ReturningFlow) -> Value {
    use secrecy::ExposeSecret as _;
    json!([
        flow.connection_id,
        flow.connector_slug,
        flow.external_id,
        flow.pkce_verifier.expose_secret(),
        flow.redirect_uri,
        flow.expires_at,
        flow.oauth.as_ref().map(|oauth| oauth.client_id.clone())
    ])
}

fn flow(state: &str) -> NewFlow {
    NewFlow {
        state: state.into(),
        pkce_verifier: SecretString::from(format!("verifier-{state}")),
        redirect_uri: "http://127.0.0.1:9/callback".into(),
        authorize_url: format!("http://127.0.0.1:9/authorize?state={state}"),
        expires_at: Utc::now() + chrono::Duration::minutes(5),
    }
}

fn tokens(access: &str, refresh: Option<&str>) -> IssuedTokens {
    IssuedTokens {
        access_token: SecretString::from(access.to_owned()),
        refresh_token: refresh.map(|token| SecretString::from(token.to_owned())),
        expires_at: "2030-01-02T03:04:05Z".parse().unwrap(),
    }
}

/// Issue 14, item 6: every listing and filter of the demo platform walked to its end, page by
/// page, the export, and every single read, the same on both backends.
#[tokio::test]
async fn the_demo_platform_reads_the_same_on_both_backends() {
    let backends = Backends::with_demo().await;

    let connectors = same!(backends, ROW_IDS, |store| walk_connectors(store));
    assert_eq!(connectors.as_array().unwrap().len(), 15, "{connectors}");
    for slug in ["slack", "sendgrid", "no-such-connector"] {
        same!(backends, ROW_IDS, |store| store.connector(slug.into()));
        same!(backends, ROW_IDS, |store| store.credential_field(slug.into()));
        same!(backends, ROW_IDS, |store| async {
            store.connector_oauth(slug.into()).await.map(|oauth| oauth.map(|o| o.client_id))
        });
    }

    let mut filters = vec![
        ConnectionFilter::default(),
        ConnectionFilter { connector: Some("github".into()), ..Default::default() },
        ConnectionFilter { context: Some("org_acme".into()), ..Default::default() },
        ConnectionFilter { context: Some("no-such-context".into()), ..Default::default() },
        ConnectionFilter { expiring_within: Some(Duration::from_secs(3600)), ..Default::default() },
        ConnectionFilter { expiring_within: Some(Duration::from_secs(3600 * 24 * 365 * 10)), ..Default::default() },
        ConnectionFilter { health: Some(Health::Active), connector: Some("slack".into()), ..Default::default() },
    ];
    filters.extend(Health::ALL.map(|health| ConnectionFilter { health: Some(health), ..Default::default() }));
    for filter in filters {
        let listed = same!(backends, ROW_IDS, |store| walk(7, |page| store.list_connections(filter.clone(), page)));
        let sqlite = exported(&backends.sqlite, filter.clone(), 5).await;
        let postgres = exported(&backends.postgres, filter.clone(), 5).await;
        assert_eq!(sqlite, postgres, "the exports of {filter:?}");
        let items: Vec<Value> =
            listed.as_array().unwrap().iter().flat_map(|page| page["items"].as_array().unwrap().clone()).collect();
        // The export's lines leave the connector's texts out.
        assert_eq!(postgres.len(), items.len(), "{filter:?}");
        for (line, item) in postgres.iter().zip(&items) {
            assert_eq!((&line["id"], &line["connector"]["slug"]), (&item["id"], &item["connector"]["slug"]));
        }
    }
    let invalid = PageRequest { limit: 5, cursor: Some("not-a-cursor".into()) };
    same!(backends, ROW_IDS, |store| walk(5, |_| store.list_connections(ConnectionFilter::default(), invalid.clone())));

    let connections = demo_connections(&backends.sqlite).await;
    assert_eq!(connections, demo_connections(&backends.postgres).await, "the listing order");
    let contexts: BTreeSet<&str> = connections.iter().map(|(context, _, _)| context.as_str()).collect();
    for context in contexts.iter().take(12).copied().chain(["no-such-context"]) {
        same!(backends, ROW_IDS, |store| walk(3, |page| store.context_connections(context.into(), page)));
        for slug in ["github", "slack", "sendgrid", "no-such-connector"] {
            same!(backends, ROW_IDS, |store| store.best_connection(context.into(), slug.into()));
        }
    }
    for (context, slug, id) in &connections {
        same!(backends, ROW_IDS, |store| store.connection_by_id(id.clone()));
        same!(backends, ROW_IDS, |store| store.best_connection(context.clone(), slug.clone()));
        same!(backends, ROW_IDS, |store| store.context_connection(context.clone(), id.clone()));
        same!(backends, ROW_IDS, |store| store.context_connection("org_other".into(), id.clone()));
        same!(backends, ROW_IDS, |store| async {
            store.refresh_state(id.clone()).await.map(|state| refresh_json(&state))
        });
    }
    same!(backends, ROW_IDS, |store| store.connection_by_id("no-such-connection".into()));
    same!(backends, ROW_IDS, |store| async { store.refresh_state("no-such-connection".into()).await.map(|_| ()) });

    // The authorization ids are each backend's own: each is looked up on its own backend.
    let (context, slug, id) = &connections[0];
    let mut found = Vec::new();
    for (name, store) in backends.both() {
        let authorization_id: i64 =
            store.connection_by_id(id.clone()).await.unwrap().authorization.unwrap().id.unwrap().parse().unwrap();
        let by_authorization = store.context_authorization(context.clone(), slug.clone(), authorization_id).await;
        let elsewhere = store.context_authorization("org_other".into(), slug.clone(), authorization_id).await;
        found.push((outcome(by_authorization, ROW_IDS), outcome(elsewhere, ROW_IDS)));
        assert!(found.last().unwrap().0.is_ok(), "{name}: {found:?}");
    }
    assert_eq!(found[0], found[1]);
}

async fn walk_connectors(store: &Store) -> StoreResult<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let page = store.list_connectors(PageRequest { limit: 4, cursor }).await?;
        pages.push(json!({"items": page.items, "more": page.next_cursor.is_some()}));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(pages.into_iter().flat_map(|page| page["items"].as_array().unwrap().clone()).collect())
}

/// The soft removals answer, change and record the same on both backends, under the actor.
#[tokio::test]
async fn disabling_connections_answers_and_records_the_same() {
    let backends = Backends::with_demo().await;
    let connections = demo_connections(&backends.sqlite).await;
    let (context, slug, _) = connections.iter().find(|(_, slug, _)| slug == "slack").unwrap().clone();
    same!(backends, WRITTEN, |store| actor::acting_as(
        "pk_test".into(),
        store.disable_connection(context.clone(), slug.clone())
    ));
    same!(backends, WRITTEN, |store| store.disable_connection(context.clone(), "sendgrid".into()));
    same!(backends, WRITTEN, |store| store.disable_connection(context.clone(), "no-such-connector".into()));
    same!(backends, WRITTEN, |store| store.disable_connection("no-such-context".into(), slug.clone()));
    let (other_context, _, id) = connections.iter().find(|(c, s, _)| *c != context && s != "slack").unwrap().clone();
    same!(backends, WRITTEN, |store| store.disable_context_connection(other_context.clone(), id.clone()));
    same!(backends, WRITTEN, |store| store.disable_context_connection(context.clone(), id.clone()));
    same!(backends, WRITTEN, |store| store.disable_context_connection("no-such-context".into(), id.clone()));

    for (_, _, id) in connections.iter().filter(|(c, s, _)| (*c == context && *s == slug) || *c == other_context) {
        same!(backends, WRITTEN, |store| store.connection_by_id(id.clone()));
        assert_eq!(events_of(&backends.sqlite, id).await, events_of(&backends.postgres, id).await, "{id}");
    }
    let listed = same!(backends, ROW_IDS, |store| walk(50, |page| store
        .list_connections(ConnectionFilter { health: Some(Health::Disabled), ..Default::default() }, page)));
    assert!(listed.to_string().contains(&id), "{listed}");
    assert_eq!(
        backends.postgres.stats().await.unwrap().connections,
        backends.sqlite.stats().await.unwrap().connections,
        "the counters follow the stored health"
    );
}

/// A catalog flow begun from a repair link, taken and completed; a second use of the link, of
/// the state and of the completion refused; a flow that fails; xkit.js's flow that creates its
/// connection; a field authorization: the same answers and events on both backends.
#[tokio::test]
async fn authorization_flows_answer_and_record_the_same() {
    let backends = Backends::with_demo().await;
    let connections = demo_connections(&backends.sqlite).await;
    let (context, slug, id) = connections.iter().find(|(_, slug, _)| slug == "github").unwrap().clone();
    let link = [7u8; 32];
    let expires = Utc::now() + chrono::Duration::hours(1);
    same!(backends, WRITTEN, |store| store.add_repair_token(link, context.clone(), slug.clone(), expires));
    same!(backends, WRITTEN, |store| store.add_repair_token([8; 32], "no-such-context".into(), slug.clone(), expires));
    same!(backends, WRITTEN, |store| store.add_repair_token(
        [8; 32],
        context.clone(),
        "no-such-connector".into(),
        expires
    ));
    same!(backends, WRITTEN, |store| async {
        store.repair_grant(link).await.map(|grant| grant.map(|g| json!([g.external_id, g.connector_slug, g.used])))
    });

    same!(backends, WRITTEN, |store| actor::acting_as(
        "catalog".into(),
        store.begin_authorization(context.clone(), slug.clone(), Some(id.clone()), flow("s-1"), Some(link))
    ));
    // The link is spent: a second flow from it is refused and changes nothing.
    same!(backends, WRITTEN, |store| store.begin_authorization(
        context.clone(),
        slug.clone(),
        Some(id.clone()),
        flow("s-2"),
        Some(link)
    ));
    same!(backends, WRITTEN, |store| async { store.repair_grant(link).await.map(|grant| grant.map(|g| g.used)) });
    same!(backends, WRITTEN, |store| store.flow_context("s-1".into()));
    same!(backends, WRITTEN, |store| store.flow_context("s-2".into()));
    same!(backends, WRITTEN, |store| store.connection_by_id(id.clone()));
    same!(backends, WRITTEN, |store| async {
        store.take_flow("s-1".into()).await.map(|flow| flow.map(|flow| flow_json(&flow)))
    });
    same!(backends, WRITTEN, |store| async {
        store.take_flow("s-1".into()).await.map(|flow| flow.map(|flow| flow_json(&flow)))
    });
    same!(backends, WRITTEN, |store| store.connection_by_id(id.clone()));
    let issued = tokens("at-new", Some("rt-new"));
    same!(backends, WRITTEN, |store| store.complete_authorization(id.clone(), "s-1".into(), issued.clone()));
    same!(backends, WRITTEN, |store| store.complete_authorization(id.clone(), "s-1".into(), issued.clone()));
    same!(backends, WRITTEN, |store| store.complete_authorization(
        "no-such-connection".into(),
        "s-1".into(),
        issued.clone()
    ));
    same!(backends, WRITTEN, |store| store.connection_by_id(id.clone()));
    same!(backends, WRITTEN, |store| async { store.refresh_state(id.clone()).await.map(|state| refresh_json(&state)) });

    // Reconnect of another context's connection: refused, as missing.
    let (_, other_slug, foreign) = connections.iter().find(|(c, _, _)| *c != context).unwrap().clone();
    same!(backends, WRITTEN, |store| store.begin_authorization(
        context.clone(),
        other_slug.clone(),
        Some(foreign.clone()),
        flow("s-3"),
        None
    ));

    // A flow the provider refuses.
    let failure = ProviderFailure { code: "access_denied".into(), message: "the user said no".into() };
    same!(backends, WRITTEN, |store| store.begin_authorization(
        context.clone(),
        slug.clone(),
        Some(id.clone()),
        flow("s-4"),
        None
    ));
    same!(backends, WRITTEN, |store| async {
        store.take_flow("s-4".into()).await.map(|flow| flow.map(|flow| flow_json(&flow)))
    });
    same!(backends, WRITTEN, |store| store.fail_authorization(id.clone(), "s-1".into(), failure.clone()));
    same!(backends, WRITTEN, |store| store.fail_authorization(id.clone(), "s-4".into(), failure.clone()));
    same!(backends, WRITTEN, |store| store.connection_by_id(id.clone()));
    assert_eq!(events_of(&backends.sqlite, &id).await, events_of(&backends.postgres, &id).await);

    // xkit.js names a connection that does not exist yet: it is created under that id.
    same!(backends, WRITTEN, |store| store.begin_client_authorization(
        context.clone(),
        "slack".into(),
        Some("js-made".into()),
        flow("s-5")
    ));
    same!(backends, WRITTEN, |store| store.begin_client_authorization(
        "no-such-context".into(),
        "slack".into(),
        None,
        flow("s-6")
    ));
    same!(backends, WRITTEN, |store| store.connection_by_id("js-made".into()));
    assert_eq!(events_of(&backends.sqlite, "js-made").await, events_of(&backends.postgres, "js-made").await);

    // A field authorization (API keys).
    same!(backends, WRITTEN, |store| store.begin_field_authorization(
        context.clone(),
        "sendgrid".into(),
        Some("key-1".into()),
        "f-1".into()
    ));
    let key = SecretString::from("SG.secret");
    same!(backends, WRITTEN, |store| store.submit_fields(
        context.clone(),
        "sendgrid".into(),
        "f-0".into(),
        key.clone()
    ));
    same!(backends, WRITTEN, |store| store.submit_fields(
        "org_other".into(),
        "sendgrid".into(),
        "f-1".into(),
        key.clone()
    ));
    same!(backends, WRITTEN, |store| store.submit_fields(
        context.clone(),
        "sendgrid".into(),
        "f-1".into(),
        key.clone()
    ));
    same!(backends, WRITTEN, |store| store.submit_fields(
        context.clone(),
        "sendgrid".into(),
        "f-1".into(),
        key.clone()
    ));
    same!(backends, WRITTEN, |store| store.connection_by_id("key-1".into()));
    same!(backends, WRITTEN, |store| store.best_connection(context.clone(), "sendgrid".into()));
    assert_eq!(events_of(&backends.sqlite, "key-1").await, events_of(&backends.postgres, "key-1").await);

    // One-time tokens: spent once; unknown and expired ones give nothing.
    let soon = Utc::now() + chrono::Duration::minutes(5);
    same!(backends, WRITTEN, |store| store.add_one_time_token([1; 32], context.clone(), soon));
    same!(backends, WRITTEN, |store| store.add_one_time_token(
        [2; 32],
        context.clone(),
        Utc::now() - chrono::Duration::minutes(1)
    ));
    same!(backends, WRITTEN, |store| store.add_one_time_token([3; 32], "no-such-context".into(), soon));
    for token in [[1; 32], [1; 32], [2; 32], [3; 32]] {
        same!(backends, WRITTEN, |store| store.take_one_time_token(token));
    }
}

/// A refresh's reads and results on both backends: a claim, a stale save refused, a save, a
/// permanent failure, a transient one with its retry time; what the scheduler finds due at
/// chosen times.
#[tokio::test]
async fn refreshes_answer_and_record_the_same() {
    let backends = Backends::with_demo().await;
    let connections = demo_connections(&backends.sqlite).await;
    let mut refreshable = Vec::new();
    for (_, _, id) in &connections {
        let state = backends.sqlite.refresh_state(id.clone()).await.unwrap();
        if state.enabled && state.refresh_token.is_some() && state.status.as_str() == "active" {
            refreshable.push((id.clone(), state));
        }
    }
    assert!(refreshable.len() >= 3, "the demo has refreshable connections");
    let (id, state) = refreshable[0].clone();
    let used = state.refresh_token.clone().unwrap();
    let until = Utc::now() + chrono::Duration::minutes(1);
    same!(backends, WRITTEN, |store| store.claim_refresh(id.clone(), used.clone(), state.expires_at, until));
    same!(backends, WRITTEN, |store| store.claim_refresh(id.clone(), used.clone(), state.expires_at, until));
    let stale = SecretString::from("not-the-stored-token");
    same!(backends, WRITTEN, |store| store.save_refreshed_tokens(
        id.clone(),
        stale.clone(),
        tokens("at-x", Some("rt-x"))
    ));
    same!(backends, WRITTEN, |store| store.save_refreshed_tokens(
        id.clone(),
        used.clone(),
        tokens("at-2", Some("rt-2"))
    ));
    same!(backends, WRITTEN, |store| store.save_refreshed_tokens(id.clone(), used.clone(), tokens("at-3", None)));
    same!(backends, WRITTEN, |store| store.connection_by_id(id.clone()));
    same!(backends, WRITTEN, |store| async { store.refresh_state(id.clone()).await.map(|state| refresh_json(&state)) });
    // The save ended the claim; a claim with the old token or expiry is refused.
    let expires: Option<DateTime<Utc>> = Some("2030-01-02T03:04:05Z".parse().unwrap());
    let rotated = SecretString::from("rt-2");
    same!(backends, WRITTEN, |store| store.claim_refresh(id.clone(), used.clone(), expires, until));
    same!(backends, WRITTEN, |store| store.claim_refresh(id.clone(), rotated.clone(), state.expires_at, until));
    same!(backends, WRITTEN, |store| store.claim_refresh(id.clone(), rotated.clone(), expires, until));
    // A save without rotation keeps the refresh token.
    same!(backends, WRITTEN, |store| store.save_refreshed_tokens(id.clone(), rotated.clone(), tokens("at-4", None)));
    same!(backends, WRITTEN, |store| async { store.refresh_state(id.clone()).await.map(|state| refresh_json(&state)) });

    let failure = ProviderFailure { code: "invalid_grant".into(), message: "revoked".into() };
    same!(backends, WRITTEN, |store| store.fail_refresh(id.clone(), used.clone(), failure.clone()));
    same!(backends, WRITTEN, |store| store.fail_refresh(id.clone(), rotated.clone(), failure.clone()));
    same!(backends, WRITTEN, |store| store.connection_by_id(id.clone()));
    same!(backends, WRITTEN, |store| store.fail_refresh("no-such-connection".into(), rotated.clone(), failure.clone()));
    assert_eq!(events_of(&backends.sqlite, &id).await, events_of(&backends.postgres, &id).await);

    let (transient, _) = refreshable[1].clone();
    let retry_at: DateTime<Utc> = "2031-05-06T07:08:09Z".parse().unwrap();
    same!(backends, WRITTEN, |store| store.record_refresh_error(
        transient.clone(),
        "the provider timed out".into(),
        retry_at
    ));
    same!(backends, WRITTEN, |store| store.connection_by_id(transient.clone()));
    let events = events_of(&backends.postgres, &transient).await;
    assert_eq!(events_of(&backends.sqlite, &transient).await, events);
    let last = events.as_array().unwrap().last().unwrap();
    assert_eq!((&last[0], &last[4]["retry_at"]), (&json!("connection.refresh_failed"), &json!("2031-05-06T07:08:09Z")));

    let now = Utc::now();
    for (at, margin_minutes, idle_hours, limit) in [
        (now, 10, 24, 500),
        (now + chrono::Duration::hours(6), 30, 2, 500),
        (now + chrono::Duration::days(2), 60, 1, 7),
    ] {
        let margin = chrono::Duration::minutes(margin_minutes);
        let idle_before = at - chrono::Duration::hours(idle_hours);
        let due = same!(backends, WRITTEN, |store| store.due_for_refresh(at, margin, idle_before, limit));
        assert!(!due.as_array().unwrap().is_empty(), "something is due at {at}");
    }
}

/// Two nodes on one PostgreSQL database.
async fn two_nodes() -> (Store, Store) {
    let url = fresh_database().await;
    let first = Store::connect_postgres(&url, 8).await.unwrap();
    let second = Store::connect_postgres(&url, 8).await.unwrap();
    first.import(seed::parse(seed::DEMO, "demo seed").unwrap()).await.unwrap();
    (first, second)
}

/// A refreshable connection of the demo: its id and state.
async fn refreshable(store: &Store) -> (String, RefreshState) {
    for (_, _, id) in demo_connections(store).await {
        let state = store.refresh_state(id.clone()).await.unwrap();
        if state.enabled && state.refresh_token.is_some() && state.status.as_str() == "active" {
            return (id, state);
        }
    }
    panic!("the demo has a refreshable connection");
}

/// Issue 14, item 4: 20 claims of one connection at once, split over two nodes: one gets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_claims_over_two_nodes_give_exactly_one() {
    let (first, second) = two_nodes().await;
    let (id, state) = refreshable(&first).await;
    let used = state.refresh_token.unwrap();
    let until = Utc::now() + chrono::Duration::minutes(1);
    let claims = (0..20).map(|n| {
        let node = if n % 2 == 0 { first.clone() } else { second.clone() };
        let (id, used) = (id.clone(), used.clone());
        tokio::spawn(async move { node.claim_refresh(id, used, state.expires_at, until).await.unwrap() })
    });
    let claimed = futures::future::join_all(claims).await.into_iter().filter(|claimed| *claimed.as_ref().unwrap());
    assert_eq!(claimed.count(), 1);
}

/// A claim racing with the save of the refresh it would repeat: while one node saves the
/// rotated tokens (ending its claim), the other node's claims with the token it had read are
/// all refused, before, during and after the commit: a refresh token is never used twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_racing_with_the_save_never_reuses_the_old_refresh_token() {
    let (first, second) = two_nodes().await;
    let (id, state) = refreshable(&first).await;
    let mut used = state.refresh_token.unwrap();
    let mut expires_at = state.expires_at;
    let until = Utc::now() + chrono::Duration::minutes(1);
    for round in 0..20 {
        assert!(first.claim_refresh(id.clone(), used.clone(), expires_at, until).await.unwrap(), "round {round}");
        let late = {
            let (second, id, used) = (second.clone(), id.clone(), used.clone());
            tokio::spawn(async move {
                let mut claimed = 0;
                for _ in 0..15 {
                    claimed +=
                        usize::from(second.claim_refresh(id.clone(), used.clone(), expires_at, until).await.unwrap());
                }
                claimed
            })
        };
        let rotated = format!("rt-{round}");
        let issued =
            IssuedTokens { expires_at: Utc::now() + chrono::Duration::hours(1), ..tokens("at", Some(&rotated)) };
        assert!(first.save_refreshed_tokens(id.clone(), used.clone(), issued).await.unwrap(), "round {round}");
        assert_eq!(late.await.unwrap(), 0, "round {round}: a claim with the replaced refresh token");
        let state = first.refresh_state(id.clone()).await.unwrap();
        (used, expires_at) = (state.refresh_token.unwrap(), state.expires_at);
    }
}

/// Every kind of write to one connection at once, split over two nodes (a flow begun, the
/// previous one taken and completed, a transient refresh failure, a removal of the context's
/// connections to the connector): each answers, none is failed as a deadlock, because they all
/// lock the connection's rows first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_to_one_connection_on_two_nodes_at_once_queue_without_deadlock() {
    let (first, second) = two_nodes().await;
    let (context, slug, id) = demo_connections(&first).await.into_iter().find(|(_, s, _)| s == "github").unwrap();
    first.begin_authorization(context.clone(), slug.clone(), Some(id.clone()), flow("mix-0"), None).await.unwrap();
    for round in 1..25 {
        let (previous, next) = (format!("mix-{}", round - 1), format!("mix-{round}"));
        let begin = first.begin_authorization(context.clone(), slug.clone(), Some(id.clone()), flow(&next), None);
        let complete = async {
            second.take_flow(previous.clone()).await?;
            second.complete_authorization(id.clone(), previous.clone(), tokens("at", Some("rt"))).await
        };
        let failed = second.record_refresh_error(id.clone(), "timed out".into(), Utc::now());
        let removed = first.disable_connection(context.clone(), slug.clone());
        let (begin, complete, failed, removed) = tokio::join!(begin, complete, failed, removed);
        let errors: Vec<String> =
            [begin.err(), complete.err(), failed.err(), removed.err()].iter().flatten().map(error_text).collect();
        assert!(errors.is_empty(), "round {round}: {errors:?}");
    }
}

/// Issue 14, item 5: a node that claimed a refresh and died leaves a claim that ends with its
/// lease: until then the other node is refused, then it takes the claim over.
#[tokio::test]
async fn a_claim_whose_lease_expired_is_taken_by_another_node() {
    let (first, second) = two_nodes().await;
    let (id, state) = refreshable(&first).await;
    let used = state.refresh_token.unwrap();
    let short = Utc::now() + chrono::Duration::seconds(1);
    assert!(first.claim_refresh(id.clone(), used.clone(), state.expires_at, short).await.unwrap());
    drop(first);
    let until = Utc::now() + chrono::Duration::minutes(1);
    assert!(!second.claim_refresh(id.clone(), used.clone(), state.expires_at, until).await.unwrap());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if second.claim_refresh(id.clone(), used.clone(), state.expires_at, until).await.unwrap() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the dead node's claim never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(Utc::now() >= chrono::SubsecRound::trunc_subsecs(short, 0), "taken over only after the lease ended");
    assert!(!second.claim_refresh(id, used, state.expires_at, until).await.unwrap(), "the new claim holds");
}

/// A callback's `state` arriving at both nodes at once (a browser retry): one takes the flow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_state_taken_by_two_nodes_at_once_goes_to_one() {
    let (first, second) = two_nodes().await;
    let (context, slug, id) = demo_connections(&first).await.into_iter().find(|(_, s, _)| s == "github").unwrap();
    for round in 0..10 {
        let state = format!("race-{round}");
        first.begin_authorization(context.clone(), slug.clone(), Some(id.clone()), flow(&state), None).await.unwrap();
        let (a, b) = tokio::join!(first.take_flow(state.clone()), second.take_flow(state.clone()));
        let taken = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(taken, 1, "round {round}");
    }
    let authorization = second.connection_by_id(id).await.unwrap().authorization.unwrap();
    assert_eq!(authorization.status.as_str(), "retrieving_tokens");
}

/// xkit.js's one-time token presented to both nodes at once: one spends it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_time_token_spent_by_two_nodes_at_once_goes_to_one() {
    let (first, second) = two_nodes().await;
    let (context, _, _) = demo_connections(&first).await.remove(0);
    for round in 0..10u8 {
        let token = [round; 32];
        first.add_one_time_token(token, context.clone(), Utc::now() + chrono::Duration::minutes(1)).await.unwrap();
        let (a, b) = tokio::join!(first.take_one_time_token(token), second.take_one_time_token(token));
        let spent: Vec<String> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(spent, std::slice::from_ref(&context), "round {round}");
    }
}

/// A repair link opened on both nodes at once: one flow starts, the other is refused with
/// SQLite's words and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_link_used_on_two_nodes_at_once_starts_one_flow() {
    let (first, second) = two_nodes().await;
    let (context, slug, id) = demo_connections(&first).await.into_iter().find(|(_, s, _)| s == "github").unwrap();
    for round in 0..5u8 {
        let link = [round + 100; 32];
        first
            .add_repair_token(link, context.clone(), slug.clone(), Utc::now() + chrono::Duration::hours(1))
            .await
            .unwrap();
        let (a_state, b_state) = (format!("a-{round}"), format!("b-{round}"));
        let (a, b) = tokio::join!(
            first.begin_authorization(context.clone(), slug.clone(), Some(id.clone()), flow(&a_state), Some(link)),
            second.begin_authorization(context.clone(), slug.clone(), Some(id.clone()), flow(&b_state), Some(link)),
        );
        let (won, lost, lost_state) = match (a, b) {
            (Ok(won), Err(lost)) => (won, lost, b_state),
            (Err(lost), Ok(won)) => (won, lost, a_state),
            other => panic!("round {round}: exactly one flow starts: {other:?}"),
        };
        assert_eq!(won, id);
        assert_eq!(error_text(&lost), "Conflict: this repair link has already been used or has expired");
        assert_eq!(first.flow_context(lost_state).await.unwrap(), None, "the refused flow left nothing");
    }
}

/// The export on PostgreSQL: at most `MAX_EXPORTS` at once (`Busy` beyond, with SQLite's
/// words), a stopped reader's export ends when its reader is dropped, freeing its place, and a
/// reader that stops reading holds none of the pool's connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_are_bounded_and_a_stalled_one_holds_no_pooled_connection() {
    let url = fresh_database().await;
    let store = Store::connect_postgres(&url, 2).await.unwrap();
    store.import(seed::parse(seed::DEMO, "demo seed").unwrap()).await.unwrap();
    let mut running: Vec<export::Export> = (0..export::MAX_EXPORTS)
        .map(|_| store.export_connections(ConnectionFilter::default(), 1, export_line).unwrap())
        .collect();
    let refused = store.export_connections(ConnectionFilter::default(), 1, export_line).err().unwrap();
    assert_eq!(
        error_text(&refused),
        format!("Busy: {} exports are running; try again when one ends", export::MAX_EXPORTS)
    );
    // Each export has read ahead and now waits for its reader; the pool (2 connections) is free.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..10 {
        let read = tokio::time::timeout(Duration::from_secs(2), store.connection_by_id("no-such".into())).await;
        assert!(matches!(read, Ok(Err(StoreError::NotFound(_)))), "{read:?}");
    }
    assert!(running[0].next_chunk().await.unwrap().is_ok());
    drop(running.remove(0));
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let again = loop {
        match store.export_connections(ConnectionFilter::default(), 1000, export_line) {
            Ok(export) => break export,
            Err(StoreError::Busy(_)) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(error) => panic!("a dropped export's place is not freed: {error}"),
        }
    };
    assert_eq!(lines_of(again).await.len(), demo_connections(&store).await.len());
}
