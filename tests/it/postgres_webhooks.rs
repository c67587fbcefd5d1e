//! The webhook store on PostgreSQL against SQLite's: the same calls on both backends give the
//! same endpoints, queued deliveries, attempts, backoff and disabling; and on PostgreSQL, two
//! nodes (two stores on one database) claiming deliveries at once never get the same one, keep
//! one delivery per endpoint in flight in queue order, and take over a claim whose lease ran out.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, SubsecRound as _, Utc};
use serde_json::{Value, json};
use xkit_dash::server::store::{AttemptResult, EndpointAfter, NewWebhook, OutboxClaim, OutboxHead, Store};

use crate::support::postgres::fresh_database;

/// A lease no test outlives unless it means to.
const LONG_LEASE: Duration = Duration::from_secs(300);

fn endpoint(id: &str, events: Option<&[&str]>) -> NewWebhook {
    NewWebhook {
        id: id.into(),
        url: format!("https://example.com/hooks/{id}"),
        secret: format!("whsec_{id}"),
        events: events.map(|events| events.iter().map(|event| (*event).to_owned()).collect()),
    }
}

fn failure(head: &OutboxHead, at: DateTime<Utc>, status: Option<u16>, retry_in: Duration) -> AttemptResult {
    AttemptResult {
        outbox_seq: head.seq,
        attempted_at: at,
        duration_ms: 12,
        status_code: status,
        error: status.is_none().then(|| "connection refused".to_owned()),
        delivered: false,
        retry_in,
    }
}

fn delivered(head: &OutboxHead, at: DateTime<Utc>) -> AttemptResult {
    AttemptResult {
        outbox_seq: head.seq,
        attempted_at: at,
        duration_ms: 7,
        status_code: Some(200),
        error: None,
        delivered: true,
        retry_in: Duration::ZERO,
    }
}

/// The endpoints as listed, without the time they were created at (checked for its format).
async fn endpoints(store: &Store) -> Value {
    let webhooks = store.webhooks().await.unwrap();
    for webhook in &webhooks {
        assert!(DateTime::parse_from_rfc3339(&webhook.created_at).is_ok(), "{}", webhook.created_at);
        assert_eq!(webhook.created_at.len(), "2026-01-01T00:00:00Z".len(), "to the second: {}", webhook.created_at);
    }
    webhooks
        .into_iter()
        .map(|webhook| {
            json!([
                webhook.id,
                webhook.url,
                webhook.events,
                webhook.enabled,
                webhook.failing_since,
                webhook.disabled_reason,
                webhook.pending
            ])
        })
        .collect()
}

/// A claim's deliveries by endpoint: what a receiver would get, but the event's id and time.
fn claimed(claim: &OutboxClaim) -> Value {
    let mut deliveries: Vec<&OutboxHead> = claim.deliveries.iter().collect();
    deliveries.sort_by(|a, b| a.endpoint_id.cmp(&b.endpoint_id));
    deliveries
        .into_iter()
        .map(|head| {
            let body: Value = serde_json::from_str(&head.body).unwrap();
            assert_eq!(body["id"], head.event_id, "{body}");
            assert!(body["occurred_at"].as_str().is_some_and(|at| at.ends_with('Z')), "{body}");
            json!([
                head.endpoint_id,
                head.url,
                head.secret,
                head.event_type,
                head.attempts,
                body["event_type"],
                body["payload"]
            ])
        })
        .collect()
}

fn head<'a>(claim: &'a OutboxClaim, endpoint: &str) -> &'a OutboxHead {
    claim.deliveries.iter().find(|head| head.endpoint_id == endpoint).unwrap_or_else(|| panic!("{endpoint}: {claim:?}"))
}

async fn deliveries(store: &Store, webhook: Option<&str>, event: Option<String>) -> Value {
    store
        .webhook_deliveries(webhook.map(str::to_owned), event, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|attempt| {
            json!([
                attempt.webhook_id,
                attempt.event_type,
                attempt.attempt,
                attempt.attempted_at,
                attempt.duration_ms,
                attempt.status_code,
                attempt.error,
                attempt.delivered
            ])
        })
        .collect()
}

/// One sequence of calls, the same on both backends; what each step returned (`base`: the
/// attempts' times, the same for both).
async fn webhook_transcript(store: &Store, base: DateTime<Utc>) -> Vec<(&'static str, Value)> {
    let mut seen = Vec::new();
    seen.push(("private targets unknown", json!(store.webhook_private_targets_allowed().await.unwrap())));
    store.set_webhook_private_targets_allowed(true).await.unwrap();
    seen.push(("private targets allowed", json!(store.webhook_private_targets_allowed().await.unwrap())));
    store.set_webhook_private_targets_allowed(false).await.unwrap();
    seen.push(("private targets refused", json!(store.webhook_private_targets_allowed().await.unwrap())));

    // wh_a wants its own kind of events, wh_b every event, wh_c only `webhook.enabled`.
    let added = store.add_webhook(endpoint("wh_a", Some(&["webhook.created", "webhook.removed"]))).await.unwrap();
    seen.push(("added", json!([added.id, added.events, added.enabled, added.pending])));
    store.add_webhook(endpoint("wh_b", None)).await.unwrap();
    store.add_webhook(endpoint("wh_c", Some(&["webhook.enabled"]))).await.unwrap();
    seen.push(("three endpoints", endpoints(store).await));
    let test_event = store.queue_webhook_test("wh_c".into()).await.unwrap();
    assert_eq!(test_event.len(), 32, "{test_event}");
    seen.push((
        "test of an unknown endpoint",
        json!(store.queue_webhook_test("wh_nope".into()).await.unwrap_err().to_string()),
    ));
    seen.push(("queued", endpoints(store).await));

    // The heads: wh_a's own creation, wh_b's creation of wh_a, wh_c's test. Leased: not again.
    let first = store.claim_webhook_deliveries(Vec::new(), 10, LONG_LEASE).await.unwrap();
    seen.push(("first claim", claimed(&first)));
    let again = store.claim_webhook_deliveries(Vec::new(), 10, LONG_LEASE).await.unwrap();
    assert!(again.deliveries.is_empty(), "{again:?}");
    let next = again.next_due_in.expect("the leased heads come due at the lease's end");
    assert!(next > LONG_LEASE - Duration::from_secs(30) && next <= LONG_LEASE, "{next:?}");
    seen.push(("claimed again", json!(again.deliveries.len())));

    // wh_a fails (retry at once), wh_b is delivered, wh_c gets no answer.
    let at = |seconds: i64| base + chrono::Duration::seconds(seconds);
    let (a, b, c) = (head(&first, "wh_a"), head(&first, "wh_b"), head(&first, "wh_c"));
    let disable_after = Duration::from_secs(3600);
    for result in
        [failure(a, at(0), Some(500), Duration::ZERO), delivered(b, at(1)), failure(c, at(2), None, Duration::ZERO)]
    {
        seen.push((
            "first attempts",
            json!(format!("{:?}", store.record_webhook_attempt(result, disable_after).await.unwrap())),
        ));
    }
    seen.push(("attempts", deliveries(store, None, None).await));
    seen.push(("attempts of wh_a", deliveries(store, Some("wh_a"), None).await));
    seen.push(("attempts of the test event", deliveries(store, None, Some(test_event.clone())).await));
    seen.push(("failing", endpoints(store).await));

    // Retried heads come with their attempt count, and wh_b's next row (wh_b's own creation).
    let second = store.claim_webhook_deliveries(Vec::new(), 10, LONG_LEASE).await.unwrap();
    seen.push(("second claim", claimed(&second)));
    // Busy endpoints are left alone; the limit holds.
    let busy = store.claim_webhook_deliveries(vec!["wh_a".into(), "wh_b".into(), "wh_c".into()], 10, LONG_LEASE);
    assert!(busy.await.unwrap().deliveries.is_empty());

    // Backoff: wh_a waits a minute, so it is not claimed now and the worker sleeps until then.
    let (a, b, c) = (head(&second, "wh_a"), head(&second, "wh_b"), head(&second, "wh_c"));
    let outcome = store.record_webhook_attempt(failure(a, at(3), Some(503), Duration::from_secs(60)), disable_after);
    seen.push(("wh_a backs off", json!(format!("{:?}", outcome.await.unwrap()))));
    store.record_webhook_attempt(delivered(b, at(4)), disable_after).await.unwrap();
    let waiting = store.claim_webhook_deliveries(vec!["wh_c".into()], 10, LONG_LEASE).await.unwrap();
    assert!(waiting.deliveries.is_empty(), "{waiting:?}");
    let next = waiting.next_due_in.expect("wh_a's retry");
    assert!(next > Duration::from_secs(50) && next <= Duration::from_secs(60), "{next:?}");

    // wh_c, failing since `at(2)`, fails again two hours later: disabled, its queue dropped,
    // a `webhook.disabled` event queued for wh_b.
    let outcome = store.record_webhook_attempt(failure(c, at(7202), None, Duration::ZERO), disable_after);
    seen.push(("wh_c disabled", json!(format!("{:?}", outcome.await.unwrap()))));
    seen.push(("after disabling", endpoints(store).await));
    seen.push((
        "test of a disabled endpoint",
        json!(store.queue_webhook_test("wh_c".into()).await.unwrap_err().to_string()),
    ));
    seen.push(("attempts of wh_c", deliveries(store, Some("wh_c"), None).await));
    let enabled = store.enable_webhook("wh_c".into()).await.unwrap();
    seen.push(("enabled", json!([enabled.enabled, enabled.failing_since, enabled.disabled_reason, enabled.pending])));
    let third = store.claim_webhook_deliveries(vec!["wh_a".into()], 10, LONG_LEASE).await.unwrap();
    seen.push(("third claim", claimed(&third)));

    // Removed: its queue and attempts go with it; an attempt in flight then records nothing.
    let removed = store.remove_webhook("wh_c".into()).await.unwrap();
    seen.push(("removed", json!([removed.id, removed.pending])));
    let late = store.record_webhook_attempt(delivered(head(&third, "wh_c"), at(7300)), disable_after);
    seen.push(("late record", json!(format!("{:?}", late.await.unwrap()))));
    seen.push(("attempts of the removed", deliveries(store, Some("wh_c"), None).await));
    seen.push(("removing again", json!(store.remove_webhook("wh_c".into()).await.unwrap_err().to_string())));
    seen.push(("enabling the removed", json!(store.enable_webhook("wh_c".into()).await.unwrap_err().to_string())));
    seen.push(("at the end", endpoints(store).await));
    seen
}

/// Endpoints, matching events queued, claims, attempts, backoff, disabling after the window,
/// enabling, removal and the deliveries listing: PostgreSQL answers every call as SQLite does.
#[tokio::test]
async fn the_webhook_store_answers_on_postgres_as_on_sqlite() {
    let base = Utc::now().trunc_subsecs(3) - chrono::Duration::hours(3);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(&dir.path().join("platform.sqlite3"), 2).unwrap();
    let postgres = Store::connect_postgres(&fresh_database().await, 4).await.unwrap();
    let expected = webhook_transcript(&sqlite, base).await;
    let got = webhook_transcript(&postgres, base).await;
    for ((label, expected), (_, got)) in expected.iter().zip(&got) {
        assert_eq!(got, expected, "{label}");
    }
    assert_eq!(got.len(), expected.len());

    // What both said is what the rules say.
    let step = |label: &str| &expected.iter().find(|(name, _)| *name == label).unwrap().1;
    assert_eq!(step("private targets unknown"), &json!(null));
    assert_eq!(step("private targets allowed"), &json!(true));
    assert_eq!(step("private targets refused"), &json!(false));
    assert_eq!(step("test of an unknown endpoint"), &json!("no webhook wh_nope"));
    let pending: Vec<&Value> = step("queued").as_array().unwrap().iter().map(|webhook| &webhook[6]).collect();
    // wh_a: the three creations; wh_b: the creations of wh_b and wh_c; wh_c: its test.
    assert_eq!(pending, [&json!(3), &json!(2), &json!(1)], "{}", step("queued"));
    let first = step("first claim").as_array().unwrap();
    let types: Vec<&Value> = first.iter().map(|head| &head[3]).collect();
    assert_eq!(types, [&json!("webhook.created"), &json!("webhook.created"), &json!("webhook.test")]);
    assert_eq!(first[2][6], json!({"webhook": {"id": "wh_c", "url": "https://example.com/hooks/wh_c"}}));
    assert_eq!(step("wh_c disabled"), &json!("Disabled"));
    let disabled = step("after disabling").as_array().unwrap();
    let wh_c = disabled.iter().find(|webhook| webhook[0] == "wh_c").unwrap();
    assert_eq!(wh_c[3], false, "{wh_c}");
    assert_eq!(wh_c[5], "every delivery failed for 2h (last: connection refused)", "{wh_c}");
    assert_eq!(wh_c[6], 0, "its queue dropped: {wh_c}");
    assert_eq!(step("test of a disabled endpoint"), &json!("webhook wh_c is disabled; enable it first"));
    let third = step("third claim").as_array().unwrap();
    let disabled_event = &third.iter().find(|head| head[0] == "wh_b").unwrap()[6];
    assert_eq!(disabled_event["reason"], wh_c[5], "the reason beside the webhook: {disabled_event}");
    assert_eq!(step("late record"), &json!("Gone"));
}

/// Queues `rows` test deliveries for each of `endpoints` new endpoints; their ids.
async fn queue(store: &Store, endpoints: usize, rows: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for index in 0..endpoints {
        let id = format!("wh_{index:02}");
        // Only its tests reach it.
        store.add_webhook(endpoint(&id, Some(&["webhook.removed"]))).await.unwrap();
        for _ in 0..rows {
            store.queue_webhook_test(id.clone()).await.unwrap();
        }
        ids.push(id);
    }
    ids
}

/// Issue 14, item 4: four workers on two nodes claim at once, round after round, and record
/// each delivery as sent: no row is ever claimed twice, never two of one endpoint at once, and
/// each endpoint's rows go out in queue order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_claiming_at_once_never_get_the_same_delivery() {
    let url = fresh_database().await;
    let nodes = [Store::connect_postgres(&url, 4).await.unwrap(), Store::connect_postgres(&url, 4).await.unwrap()];
    let (endpoint_count, rows) = (8, 4);
    let ids = queue(&nodes[0], endpoint_count, rows).await;

    let mut sent: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut rounds = 0;
    while sent.values().map(Vec::len).sum::<usize>() < endpoint_count * rows {
        rounds += 1;
        assert!(rounds <= 40, "drained within 40 rounds: {sent:?}");
        let claims: Vec<_> = (0..4)
            .map(|worker| {
                let node = nodes[worker % 2].clone();
                tokio::spawn(async move { node.claim_webhook_deliveries(Vec::new(), 3, LONG_LEASE).await.unwrap() })
            })
            .collect();
        let mut this_round = HashSet::new();
        let mut endpoints_in_flight = HashSet::new();
        let mut claimed = Vec::new();
        for claim in claims {
            for head in claim.await.unwrap().deliveries {
                assert!(this_round.insert(head.seq), "row {} claimed twice in round {rounds}", head.seq);
                assert!(endpoints_in_flight.insert(head.endpoint_id.clone()), "two of {} in flight", head.endpoint_id);
                claimed.push(head);
            }
        }
        for head in claimed {
            let seqs = sent.entry(head.endpoint_id.clone()).or_default();
            assert!(!seqs.contains(&head.seq), "row {} sent twice", head.seq);
            seqs.push(head.seq);
            let node = &nodes[head.seq as usize % 2];
            let outcome = node.record_webhook_attempt(delivered(&head, Utc::now()), Duration::from_secs(3600));
            assert_eq!(outcome.await.unwrap(), EndpointAfter::Delivering);
        }
    }
    assert_eq!(sent.keys().cloned().collect::<Vec<_>>(), ids);
    for (endpoint, seqs) in &sent {
        assert!(seqs.windows(2).all(|pair| pair[0] < pair[1]), "{endpoint} in queue order: {seqs:?}");
        assert_eq!(seqs.len(), rows, "{endpoint}: {seqs:?}");
    }
    let left = nodes[1].claim_webhook_deliveries(Vec::new(), 100, LONG_LEASE).await.unwrap();
    assert!(left.deliveries.is_empty() && left.next_due_in.is_none(), "{left:?}");
    assert!(nodes[0].webhooks().await.unwrap().iter().all(|webhook| webhook.pending == 0));
}

/// A node that claimed a delivery and died (its lease runs out unrecorded) leaves it to
/// another node, which claims the same row again (at least once); the dead node's late record
/// finds nothing.
#[tokio::test]
async fn a_claim_whose_lease_ran_out_is_claimed_again_by_another_node() {
    let url = fresh_database().await;
    let (dying, survivor) =
        (Store::connect_postgres(&url, 2).await.unwrap(), Store::connect_postgres(&url, 2).await.unwrap());
    queue(&dying, 1, 2).await;
    let lease = Duration::from_millis(800);
    let claimed = dying.claim_webhook_deliveries(Vec::new(), 10, lease).await.unwrap();
    assert_eq!(claimed.deliveries.len(), 1, "{claimed:?}");
    let first = claimed.deliveries[0].clone();

    let meanwhile = survivor.claim_webhook_deliveries(Vec::new(), 10, lease).await.unwrap();
    assert!(meanwhile.deliveries.is_empty(), "leased to the other node: {meanwhile:?}");
    let wait = meanwhile.next_due_in.expect("due again at the lease's end");
    assert!(wait <= lease, "{wait:?}");
    tokio::time::sleep(wait + Duration::from_millis(100)).await;

    let taken_over = survivor.claim_webhook_deliveries(Vec::new(), 10, LONG_LEASE).await.unwrap();
    assert_eq!(taken_over.deliveries.len(), 1, "{taken_over:?}");
    let again = &taken_over.deliveries[0];
    assert_eq!((again.seq, again.attempts, &again.body), (first.seq, 0, &first.body), "the same row, same bytes");
    let outcome = survivor.record_webhook_attempt(delivered(again, Utc::now()), Duration::from_secs(3600));
    assert_eq!(outcome.await.unwrap(), EndpointAfter::Delivering);
    let late = dying.record_webhook_attempt(delivered(&first, Utc::now()), Duration::from_secs(3600));
    assert_eq!(late.await.unwrap(), EndpointAfter::Gone);
    let attempts = survivor.webhook_deliveries(None, Some(first.event_id.clone()), 10).await.unwrap();
    assert_eq!(attempts.len(), 1, "{attempts:?}");

    // The endpoint's next row follows.
    let next = dying.claim_webhook_deliveries(Vec::new(), 10, LONG_LEASE).await.unwrap();
    assert_eq!(next.deliveries.len(), 1, "{next:?}");
    assert!(next.deliveries[0].seq > first.seq);
}

/// An endpoint removed on one node while another node's writes queue deliveries for it (its
/// own test, another endpoint's creation): every call succeeds or finds it gone, and no two
/// transactions deadlock (the removal takes the events lock before the endpoint's row).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_an_endpoint_while_other_nodes_queue_deliveries_for_it_never_fails() {
    let url = fresh_database().await;
    let nodes = [Store::connect_postgres(&url, 4).await.unwrap(), Store::connect_postgres(&url, 4).await.unwrap()];
    for round in 0..30 {
        let doomed = format!("wh_doomed_{round:02}");
        // It wants every event: the other node's writes queue rows that reference it.
        nodes[0].add_webhook(endpoint(&doomed, None)).await.unwrap();
        let (node_a, node_b, node_c) = (nodes[0].clone(), nodes[1].clone(), nodes[0].clone());
        let (id_a, id_c) = (doomed.clone(), doomed.clone());
        let removal = tokio::spawn(async move { node_a.remove_webhook(id_a).await.map(|_| ()) });
        let creation =
            tokio::spawn(
                async move { node_b.add_webhook(endpoint(&format!("wh_new_{round:02}"), None)).await.map(|_| ()) },
            );
        let test = tokio::spawn(async move { node_c.queue_webhook_test(id_c).await.map(|_| ()) });
        removal.await.unwrap().unwrap_or_else(|error| panic!("round {round}: removal: {error}"));
        creation.await.unwrap().unwrap_or_else(|error| panic!("round {round}: creation: {error}"));
        match test.await.unwrap() {
            Ok(()) | Err(xkit_dash::server::store::StoreError::NotFound(_)) => {}
            Err(error) => panic!("round {round}: test: {error}"),
        }
    }
    let left = nodes[1].webhooks().await.unwrap();
    assert!(left.iter().all(|webhook| webhook.id.starts_with("wh_new_")), "{left:?}");
}
