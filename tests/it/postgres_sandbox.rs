//! The sandbox provider's store on PostgreSQL against SQLite's: the same codes, exchanges,
//! refresh rotations, reuse detection and revocations give the same answers on both backends;
//! and on PostgreSQL, two nodes spending one code or one refresh token at once: one wins.

use chrono::{Duration as TimeDelta, Utc};
use secrecy::SecretString;
use serde_json::{Value, json};
use xkit_dash::server::store::{NewCode, SandboxIssued, SandboxRefusal, Store, StoreResult, pkce_s256};

use crate::support::postgres::{fresh_database, sql_client};

/// The sandbox clients both backends get: `app` (refresh tokens that never expire) and
/// `short` (refresh tokens that expired on issue), and `other`.
const CLIENTS: [(&str, &str, i64, Option<i64>); 3] = [
    ("app", "https://app.example/callback", 3600, None),
    ("other", "https://other.example/callback", 60, Some(86_400)),
    ("short", "https://short.example/callback", 60, Some(0)),
];

/// The clients as a seed's import stores them (`sandbox::upsert_client`): the import itself is
/// another trait's, so the rows are written here, the same on both backends.
async fn add_clients(sqlite: &std::path::Path, postgres: &str) {
    let db = rusqlite::Connection::open(sqlite).unwrap();
    let pg = sql_client(postgres).await;
    for (client_id, redirect, access_ttl, refresh_ttl) in CLIENTS {
        let hash = sha256(&format!("{client_id}-secret"));
        let name = format!("The {client_id} client");
        db.execute(
            "INSERT INTO sandbox_clients (client_id, secret_sha256, name, redirect_uris, access_ttl_secs, refresh_ttl_secs)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rusqlite::params![client_id, &hash[..], name, redirect, access_ttl, refresh_ttl],
        )
        .unwrap();
        pg.execute(
            "INSERT INTO sandbox_clients (client_id, secret_sha256, name, redirect_uris, access_ttl_secs, refresh_ttl_secs)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&client_id, &&hash[..], &name, &redirect, &access_ttl, &refresh_ttl],
        )
        .await
        .unwrap();
    }
}

fn code(code: &str, client_id: &str, verifier: Option<&str>, expires_in: TimeDelta) -> NewCode {
    let redirect = CLIENTS.iter().find(|client| client.0 == client_id).unwrap().1;
    NewCode {
        code: SecretString::from(code.to_owned()),
        client_id: client_id.into(),
        subject: format!("{code}-subject"),
        scope: "read write".into(),
        redirect_uri: redirect.into(),
        code_challenge: verifier.map(pkce_s256),
        expires_at: Utc::now() + expires_in,
    }
}

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

/// An answer of the token endpoint, without the grant's id (compared on its own).
fn answer(result: StoreResult<Result<SandboxIssued, SandboxRefusal>>) -> Value {
    match result.unwrap() {
        Ok(issued) => json!({"scope": issued.scope, "access_ttl_secs": issued.access_ttl_secs}),
        Err(refusal) => json!({"error": refusal.error, "description": refusal.description}),
    }
}

async fn exchange(
    store: &Store,
    client: &str,
    code: &str,
    redirect: Option<&str>,
    verifier: Option<&str>,
    new: &str,
) -> Value {
    answer(
        store
            .sandbox_exchange_code(
                client.into(),
                secret(code),
                redirect.map(str::to_owned),
                verifier.map(str::to_owned),
                secret(new),
            )
            .await,
    )
}

async fn refresh(store: &Store, client: &str, token: &str, new: &str) -> Value {
    answer(store.sandbox_refresh(client.into(), secret(token), secret(new)).await)
}

/// One sequence of the token endpoint's calls, the same on both backends; each step's answer.
async fn sandbox_transcript(store: &Store) -> Vec<(&'static str, Value)> {
    let mut seen = Vec::new();
    let app = store.sandbox_client("app".into()).await.unwrap().expect("the app client");
    seen.push((
        "client",
        json!([
            app.client_id,
            app.name,
            app.redirect_uris,
            app.access_ttl_secs,
            app.refresh_ttl_secs,
            app.secret_sha256 == sha256("app-secret")
        ]),
    ));
    seen.push(("unknown client", json!(store.sandbox_client("nope".into()).await.unwrap().is_none())));

    let redirect = Some("https://app.example/callback");
    let minute = TimeDelta::minutes(1);
    store.sandbox_add_code(code("c1", "app", Some("verifier-1"), minute)).await.unwrap();
    store.sandbox_add_code(code("c2", "app", None, minute)).await.unwrap();
    store.sandbox_add_code(code("c3", "app", None, -minute)).await.unwrap();
    seen.push(("wrong verifier", exchange(store, "app", "c1", redirect, Some("verifier-2"), "rt1").await));
    seen.push(("no verifier", exchange(store, "app", "c1", redirect, None, "rt1").await));
    seen.push(("exchanged", exchange(store, "app", "c1", redirect, Some("verifier-1"), "rt1").await));
    seen.push(("code replayed", exchange(store, "app", "c1", redirect, Some("verifier-1"), "rt1b").await));
    seen.push(("replayed grant's token", refresh(store, "app", "rt1", "rt1c").await));
    seen.push(("unknown code", exchange(store, "app", "c9", redirect, None, "rt9").await));
    seen.push(("another client's code", exchange(store, "other", "c2", redirect, None, "rt2").await));
    seen.push(("expired code", exchange(store, "app", "c3", redirect, None, "rt3").await));
    seen.push(("wrong redirect", exchange(store, "app", "c2", Some("https://evil.example/"), None, "rt2").await));
    seen.push(("no redirect", exchange(store, "app", "c2", None, None, "rt2").await));
    seen.push(("second code", exchange(store, "app", "c2", redirect, None, "rt2").await));

    seen.push(("rotated", refresh(store, "app", "rt2", "rt2-1").await));
    seen.push(("rotated again", refresh(store, "app", "rt2-1", "rt2-2").await));
    seen.push(("another client's token", refresh(store, "other", "rt2-2", "rt-x").await));
    seen.push(("reused", refresh(store, "app", "rt2-1", "rt2-3").await));
    seen.push(("newest after reuse", refresh(store, "app", "rt2-2", "rt2-4").await));
    seen.push(("unknown token", refresh(store, "app", "rt-unknown", "rt-y").await));

    store.sandbox_add_code(code("c4", "short", None, minute)).await.unwrap();
    seen.push((
        "short-lived",
        exchange(store, "short", "c4", Some("https://short.example/callback"), None, "rt4").await,
    ));
    seen.push(("expired token", refresh(store, "short", "rt4", "rt4-1").await));

    store.sandbox_add_code(code("c5", "app", None, minute)).await.unwrap();
    seen.push(("third code", exchange(store, "app", "c5", redirect, None, "rt5").await));
    seen.push((
        "revoked by another client",
        json!(store.sandbox_revoke_token("other".into(), secret("rt5")).await.unwrap()),
    ));
    seen.push(("revoked by its client", json!(store.sandbox_revoke_token("app".into(), secret("rt5")).await.unwrap())));
    seen.push(("revoked twice", json!(store.sandbox_revoke_token("app".into(), secret("rt5")).await.unwrap())));
    seen.push(("revoked unknown", json!(store.sandbox_revoke_token("app".into(), secret("rt-none")).await.unwrap())));
    seen.push(("refresh after revocation", refresh(store, "app", "rt5", "rt5-1").await));

    store.sandbox_add_code(code("c6", "app", None, minute)).await.unwrap();
    seen.push(("fourth code", exchange(store, "app", "c6", redirect, None, "rt6").await));
    let newest = store.sandbox_grants(1).await.unwrap().remove(0);
    seen.push(("admin revokes", json!(store.sandbox_revoke_grant(newest.id).await.unwrap())));
    seen.push(("admin revokes twice", json!(store.sandbox_revoke_grant(newest.id).await.unwrap())));
    seen.push(("admin revokes unknown", json!(store.sandbox_revoke_grant(9999).await.unwrap())));

    let grants = store.sandbox_grants(100).await.unwrap();
    seen.push((
        "grants",
        grants
            .iter()
            .map(|grant| {
                assert!(grant.created_at.is_some_and(|at| (Utc::now() - at).num_seconds().abs() < 120), "{grant:?}");
                json!([
                    grant.client_id,
                    grant.client_name,
                    grant.subject,
                    grant.scope,
                    grant.last_used_at.is_some(),
                    grant.revoked_at.is_some(),
                    grant.revoked_reason
                ])
            })
            .collect(),
    ));
    seen.push(("two grants", json!(store.sandbox_grants(2).await.unwrap().len())));
    seen
}

/// Codes (single use, expiry, client, redirect and PKCE checks), refresh rotation, reuse
/// detection, expiry, revocation by the client and by the admin page, and the grant list:
/// PostgreSQL answers every call as SQLite does.
#[tokio::test]
async fn the_sandbox_store_answers_on_postgres_as_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("platform.sqlite3");
    let sqlite = Store::open(&path, 2).unwrap();
    let url = fresh_database().await;
    let postgres = Store::connect_postgres(&url, 4).await.unwrap();
    add_clients(&path, &url).await;

    let expected = sandbox_transcript(&sqlite).await;
    let got = sandbox_transcript(&postgres).await;
    for ((label, expected), (_, got)) in expected.iter().zip(&got) {
        assert_eq!(got, expected, "{label}");
    }
    assert_eq!(got.len(), expected.len());

    // What both said is what the rules say.
    let step = |label: &str| &expected.iter().find(|(name, _)| *name == label).unwrap().1;
    let refused = |label: &str| step(label)["description"].as_str().unwrap_or_default().to_owned();
    assert_eq!(step("exchanged"), &json!({"scope": "read write", "access_ttl_secs": 3600}));
    assert_eq!(refused("wrong verifier"), "PKCE verification failed");
    assert_eq!(refused("code replayed"), "the authorization code was already used; its grant is revoked");
    assert_eq!(refused("replayed grant's token"), "the grant has been revoked");
    assert_eq!(refused("expired code"), "the authorization code has expired");
    assert_eq!(refused("wrong redirect"), "redirect_uri does not match the authorization request");
    assert_eq!(step("rotated again")["scope"], "read write");
    assert_eq!(refused("reused"), "the refresh token was already used; its grant is revoked");
    assert_eq!(refused("newest after reuse"), "the grant has been revoked");
    assert_eq!(refused("expired token"), "the refresh token has expired");
    assert_eq!(
        [step("revoked by another client"), step("revoked by its client"), step("revoked twice")],
        [&json!(false), &json!(true), &json!(false)]
    );
    let reasons: Vec<&Value> = step("grants").as_array().unwrap().iter().map(|grant| &grant[6]).collect();
    assert_eq!(
        reasons,
        [
            &json!("revoked on the sandbox admin page"),
            &json!("revoked by the client"),
            &json!(null),
            &json!("a rotated refresh token was presented again"),
            &json!("authorization code replayed"),
        ]
    );
}

/// Issue 14, item 3: two nodes presenting one refresh token at once (or one code): exactly one
/// gets new tokens; the other sees it spent, which (as when the same two requests come one after
/// the other) revokes the grant. Several rounds, so that the two really overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_spending_one_token_at_once_one_wins() {
    let url = fresh_database().await;
    let nodes = [Store::connect_postgres(&url, 4).await.unwrap(), Store::connect_postgres(&url, 4).await.unwrap()];
    let pg = sql_client(&url).await;
    pg.execute(
        "INSERT INTO sandbox_clients (client_id, secret_sha256, name, redirect_uris, access_ttl_secs)
         VALUES ('app', '\\x00', 'App', 'https://app.example/callback', 60)",
        &[],
    )
    .await
    .unwrap();
    let redirect = "https://app.example/callback".to_owned();
    for round in 0..8 {
        let code_text = format!("code-{round}");
        nodes[0].sandbox_add_code(code(&code_text, "app", None, TimeDelta::minutes(1))).await.unwrap();
        let exchanges = nodes.clone().into_iter().enumerate().map(|(index, node)| {
            let (code_text, redirect) = (code_text.clone(), redirect.clone());
            tokio::spawn(async move {
                let new = format!("{code_text}-rt-{index}");
                let result = node
                    .sandbox_exchange_code("app".into(), secret(&code_text), Some(redirect), None, secret(&new))
                    .await
                    .unwrap();
                (result, new)
            })
        });
        let exchanges: Vec<_> = exchanges.collect();
        let mut winners = Vec::new();
        for exchange in exchanges {
            let (result, new) = exchange.await.unwrap();
            match result {
                Ok(_) => winners.push(new),
                Err(refusal) => assert_eq!(
                    refusal.description, "the authorization code was already used; its grant is revoked",
                    "round {round}"
                ),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: one exchange of the code wins");
        // The loser revoked the grant: start a fresh one for the refresh race.
        let fresh = format!("fresh-{round}");
        nodes[1].sandbox_add_code(code(&fresh, "app", None, TimeDelta::minutes(1))).await.unwrap();
        let issued = nodes[1]
            .sandbox_exchange_code(
                "app".into(),
                secret(&fresh),
                Some(redirect.clone()),
                None,
                secret(&format!("{fresh}-rt")),
            )
            .await
            .unwrap()
            .unwrap();

        let refreshes = nodes.clone().into_iter().enumerate().map(|(index, node)| {
            let token = format!("{fresh}-rt");
            tokio::spawn(async move {
                node.sandbox_refresh("app".into(), secret(&token), secret(&format!("{token}-{index}"))).await.unwrap()
            })
        });
        let refreshes: Vec<_> = refreshes.collect();
        let mut succeeded = 0;
        for refresh in refreshes {
            match refresh.await.unwrap() {
                Ok(refreshed) => {
                    assert_eq!(refreshed.grant_id, issued.grant_id);
                    succeeded += 1;
                }
                Err(refusal) => assert_eq!(
                    refusal.description, "the refresh token was already used; its grant is revoked",
                    "round {round}"
                ),
            }
        }
        assert_eq!(succeeded, 1, "round {round}: one refresh with the token wins");
        let grant = nodes[0].sandbox_grants(100).await.unwrap().into_iter().find(|grant| grant.id == issued.grant_id);
        assert_eq!(grant.unwrap().revoked_reason.as_deref(), Some("a rotated refresh token was presented again"));
    }
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).into()
}
