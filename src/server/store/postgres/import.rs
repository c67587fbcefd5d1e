//! Seed and bulk imports on PostgreSQL: SQLite's `platform::import` (same report, same events,
//! same errors) with its rows sent as arrays (`unnest`), so that 100,000 connections are a few
//! dozen statements instead of 300,000 round trips.
//!
//! An import of [`BULK_IMPORT`] connections or more is one change: the transaction sets
//! `xkit.quiet_rows` (no per-row events nor status notes) and `xkit.counters_paused` (no
//! per-row counting), writes one `platform.imported` event and counts its rows once at the end
//! (`count_imported`). A smaller import writes each row's events, in SQLite's order.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SubsecRound as _, Utc};
use deadpool_postgres::Transaction;
use secrecy::ExposeSecret as _;
use serde_json::Value;

use super::triggers::EVENTS_LOCK;

use crate::model::{AuthorizationStatus, Context};
use crate::server::secret::secret_hash;
use crate::server::store::counters::{BULK_IMPORT, severity_sql};
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::records::{ConnectorRecord, ImportBatch, ImportReport, NewConnection};
use crate::server::store::sandbox::{SandboxClientConfig, SandboxGrantSeed};
use crate::server::store::sql::derived_health;

/// Rows per statement of a bulk import.
const CHUNK: usize = 10_000;

pub(super) async fn import(tx: &Transaction<'_>, batch: &ImportBatch) -> StoreResult<ImportReport> {
    let started = std::time::Instant::now();
    let mut report = ImportReport::default();
    if let Some(platform) = &batch.platform {
        let statement = tx
            .prepare_cached(
                "UPDATE platform SET name = $1, slug = $2, custom_domain = $3, website = $4, login_redirect_url = $5,
                     remove_branding = $6 WHERE id = 1",
            )
            .await?;
        tx.execute(
            &statement,
            &[
                &platform.name,
                &platform.slug,
                &platform.custom_domain,
                &platform.website,
                &platform.login_redirect_url,
                &platform.remove_branding,
            ],
        )
        .await?;
    }
    for origin in &batch.origins {
        add_web_origin(tx, origin).await?;
    }
    for record in &batch.connectors {
        upsert_connector(tx, record).await?;
        report.connectors += 1;
    }
    for client in &batch.sandbox.clients {
        upsert_sandbox_client(tx, client).await?;
    }
    let bulk = batch.connections.len() >= BULK_IMPORT;
    if bulk {
        // An administrative import of a million rows may take longer than a request's statement.
        tx.execute(
            "SELECT set_config('xkit.quiet_rows', 'on', true), set_config('xkit.counters_paused', 'on', true),
                 set_config('statement_timeout', '0', true)",
            &[],
        )
        .await?;
    }
    for contexts in batch.contexts.chunks(CHUNK) {
        report.contexts_added += insert_contexts(tx, contexts).await?;
    }
    check_contexts_exist(tx, &batch.connections).await?;
    // Outside a bulk import each row writes its events, in SQLite's order: a connection's
    // `connection.created`, then (inserted in error) its `connection.error`, then the next
    // one's. A statement writes its connections' events, then its authorizations', so a
    // statement ends after each connection in error.
    let statements: Box<dyn Iterator<Item = &[NewConnection]> + Send> = if bulk {
        Box::new(batch.connections.chunks(CHUNK))
    } else {
        Box::new(batch.connections.split_inclusive(inserted_in_error).flat_map(|rows| rows.chunks(CHUNK)))
    };
    let mut imported = Vec::new();
    for connections in statements {
        let seqs = insert_connections(tx, connections).await?;
        report.connections_added += seqs.len();
        if bulk {
            imported.extend(seqs);
        }
    }
    insert_grants_if_absent(tx, &batch.sandbox.grants).await?;
    if bulk {
        let inserted = started.elapsed();
        tx.execute(
            "SELECT set_config('xkit.quiet_rows', 'off', true), set_config('xkit.counters_paused', 'off', true)",
            &[],
        )
        .await?;
        count_imported(tx, &report, &imported).await?;
        tracing::debug!(?inserted, counted = ?started.elapsed(), "bulk import written");
    }
    Ok(report)
}

/// Adds a web origin (already validated); false when it was there.
pub(super) async fn add_web_origin(tx: &Transaction<'_>, origin: &str) -> StoreResult<bool> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO web_origins (origin, created_at) VALUES ($1, xkit_now()) ON CONFLICT (origin) DO NOTHING",
        )
        .await?;
    Ok(tx.execute(&statement, &[&origin]).await? == 1)
}

async fn upsert_connector(tx: &Transaction<'_>, record: &ConnectorRecord) -> StoreResult<()> {
    let connector = &record.connector;
    let oauth = record.oauth.as_ref();
    let statement = tx
        .prepare_cached(
            "INSERT INTO connectors (slug, name, short_description, mark_url, about, description,
                 supports_multiple_connections, oauth_authorize_url, oauth_token_url, oauth_client_id,
                 oauth_client_secret, oauth_scopes, credential_field)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (slug) DO UPDATE SET name = excluded.name, short_description = excluded.short_description,
                 mark_url = excluded.mark_url, about = excluded.about, description = excluded.description,
                 supports_multiple_connections = excluded.supports_multiple_connections,
                 oauth_authorize_url = excluded.oauth_authorize_url, oauth_token_url = excluded.oauth_token_url,
                 oauth_client_id = excluded.oauth_client_id, oauth_client_secret = excluded.oauth_client_secret,
                 oauth_scopes = excluded.oauth_scopes, credential_field = excluded.credential_field",
        )
        .await?;
    tx.execute(
        &statement,
        &[
            &connector.slug,
            &connector.name,
            &connector.short_description,
            &connector.mark_url,
            &connector.about,
            &connector.description,
            &connector.supports_multiple_connections,
            &oauth.map(|oauth| &oauth.authorize_url),
            &oauth.map(|oauth| &oauth.token_url),
            &oauth.map(|oauth| &oauth.client_id),
            &oauth.map(|oauth| oauth.client_secret.expose_secret()),
            &oauth.map(|oauth| oauth.scopes.join(" ")),
            &record.credential_field,
        ],
    )
    .await?;
    Ok(())
}

async fn upsert_sandbox_client(tx: &Transaction<'_>, client: &SandboxClientConfig) -> StoreResult<()> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO sandbox_clients (client_id, secret_sha256, name, redirect_uris, access_ttl_secs, refresh_ttl_secs)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (client_id) DO UPDATE SET secret_sha256 = excluded.secret_sha256, name = excluded.name,
                 redirect_uris = excluded.redirect_uris, access_ttl_secs = excluded.access_ttl_secs,
                 refresh_ttl_secs = excluded.refresh_ttl_secs",
        )
        .await?;
    let seconds = |duration: std::time::Duration| i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
    tx.execute(
        &statement,
        &[
            &client.client_id,
            &&secret_hash(client.client_secret.expose_secret())[..],
            &client.name,
            &client.redirect_uris.join(" "),
            &seconds(client.access_ttl),
            &client.refresh_ttl.map(seconds),
        ],
    )
    .await?;
    Ok(())
}

/// Inserts the contexts that are absent, in order; how many.
async fn insert_contexts(tx: &Transaction<'_>, contexts: &[Context]) -> StoreResult<usize> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO contexts (external_id, external_name, attributes, created_at, updated_at)
             SELECT u.external_id, u.external_name, u.attributes, xkit_now(), xkit_now()
             FROM unnest($1::TEXT[], $2::TEXT[], $3::JSONB[]) WITH ORDINALITY AS u(external_id, external_name, attributes, position)
             ORDER BY u.position
             ON CONFLICT (external_id) DO NOTHING",
        )
        .await?;
    let external_ids: Vec<&str> = contexts.iter().map(|context| context.external_id.as_str()).collect();
    let names: Vec<Option<&str>> = contexts.iter().map(|context| context.external_name.as_deref()).collect();
    let attributes: Vec<Value> = contexts.iter().map(|context| Value::Object(context.attributes.clone())).collect();
    Ok(tx.execute(&statement, &[&external_ids, &names, &attributes]).await? as usize)
}

/// `NotFound` naming the first connection's context that does not exist, as SQLite's import
/// fails on it.
async fn check_contexts_exist(tx: &Transaction<'_>, connections: &[NewConnection]) -> StoreResult<()> {
    let statement = tx
        .prepare_cached(
            "SELECT u.context FROM unnest($1::TEXT[]) WITH ORDINALITY AS u(context, position)
             WHERE NOT EXISTS (SELECT 1 FROM contexts x WHERE x.external_id = u.context) ORDER BY u.position LIMIT 1",
        )
        .await?;
    for connections in connections.chunks(CHUNK) {
        let contexts: Vec<&str> =
            connections.iter().map(|connection| connection.context_external_id.as_str()).collect();
        if let Some(row) = tx.query_opt(&statement, &[&contexts]).await? {
            let external_id: String = row.get(0);
            return Err(StoreError::NotFound(format!("no context with external_id {external_id:?}")));
        }
    }
    Ok(())
}

/// Inserts the connections whose id is absent, then their authorizations; the inserted seqs.
async fn insert_connections(tx: &Transaction<'_>, connections: &[NewConnection]) -> StoreResult<Vec<i64>> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
             SELECT u.id, x.id, u.connector_slug, u.enabled, u.health, xkit_now(), xkit_now()
             FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BOOLEAN[], $5::BIGINT[])
                 WITH ORDINALITY AS u(id, context, connector_slug, enabled, health, position)
             JOIN contexts x ON x.external_id = u.context
             ORDER BY u.position
             ON CONFLICT (id) DO NOTHING
             RETURNING seq, id",
        )
        .await?;
    let ids: Vec<&str> = connections.iter().map(|connection| connection.id.as_str()).collect();
    let contexts: Vec<&str> = connections.iter().map(|connection| connection.context_external_id.as_str()).collect();
    let slugs: Vec<&str> = connections.iter().map(|connection| connection.connector_slug.as_str()).collect();
    let enabled: Vec<bool> = connections.iter().map(|connection| connection.enabled).collect();
    let health: Vec<i64> = connections
        .iter()
        .map(|connection| {
            let status = connection.authorization.as_ref().map(|authorization| &authorization.status);
            derived_health(connection.enabled, status).rank() as i64
        })
        .collect();
    let mut inserted: HashMap<String, i64> = tx
        .query(&statement, &[&ids, &contexts, &slugs, &enabled, &health])
        .await?
        .iter()
        .map(|row| (row.get(1), row.get(0)))
        .collect();
    let added: Vec<i64> = inserted.values().copied().collect();
    // Taken from the map: an id twice in the batch inserted its first row only, whose
    // authorization is the only one written, as SQLite's one-by-one import does.
    let authorized: Vec<(i64, &NewConnection)> = connections
        .iter()
        .filter_map(|connection| inserted.remove(&connection.id).map(|seq| (seq, connection)))
        .filter(|(_, connection)| connection.authorization.is_some())
        .collect();
    if !authorized.is_empty() {
        insert_authorizations(tx, &authorized).await?;
    }
    Ok(added)
}

/// Whether a connection's insertion writes a `connection.error` event.
fn inserted_in_error(connection: &NewConnection) -> bool {
    connection.authorization.as_ref().is_some_and(|authorization| authorization.status == AuthorizationStatus::Error)
}

/// A stored time: to the second, as SQLite keeps them.
fn whole_seconds(at: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    at.map(|at| at.trunc_subsecs(0))
}

async fn insert_authorizations(tx: &Transaction<'_>, connections: &[(i64, &NewConnection)]) -> StoreResult<()> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO authorizations (connection_seq, status, display_label, error_code, error_message,
                 access_token, refresh_token, authorize_url, state, expires_at, last_refreshed_at, refresh_error,
                 updated_at, status_changed_at)
             SELECT u.seq, u.status, u.display_label, u.error_code, u.error_message, u.access_token, u.refresh_token,
                 u.authorize_url, u.state, u.expires_at, u.last_refreshed_at, u.refresh_error, xkit_now(), xkit_now()
             FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[],
                     $8::TEXT[], $9::TEXT[], $10::TIMESTAMPTZ[], $11::TIMESTAMPTZ[], $12::TEXT[])
                 WITH ORDINALITY AS u(seq, status, display_label, error_code, error_message, access_token,
                     refresh_token, authorize_url, state, expires_at, last_refreshed_at, refresh_error, position)
             ORDER BY u.position",
        )
        .await?;
    let records: Vec<_> = connections
        .iter()
        .filter_map(|(seq, connection)| connection.authorization.as_ref().map(|record| (*seq, record)))
        .collect();
    let text = |field: fn(&crate::server::store::AuthorizationRecord) -> Option<&str>| -> Vec<Option<&str>> {
        records.iter().map(|(_, record)| field(record)).collect()
    };
    let seqs: Vec<i64> = records.iter().map(|(seq, _)| *seq).collect();
    let statuses: Vec<&str> = records.iter().map(|(_, record)| record.status.as_str()).collect();
    let labels = text(|record| record.display_label.as_deref());
    let error_codes = text(|record| record.error_code.as_deref());
    let error_messages = text(|record| record.error_message.as_deref());
    let access_tokens = text(|record| record.access_token.as_ref().map(|token| token.expose_secret()));
    let refresh_tokens = text(|record| record.refresh_token.as_ref().map(|token| token.expose_secret()));
    let authorize_urls = text(|record| record.authorize_url.as_deref());
    let states = text(|record| record.state.as_deref());
    let expires: Vec<Option<DateTime<Utc>>> =
        records.iter().map(|(_, record)| whole_seconds(record.expires_at)).collect();
    let refreshed: Vec<Option<DateTime<Utc>>> =
        records.iter().map(|(_, record)| whole_seconds(record.last_refreshed_at)).collect();
    let refresh_errors = text(|record| record.refresh_error.as_deref());
    tx.execute(
        &statement,
        &[
            &seqs,
            &statuses,
            &labels,
            &error_codes,
            &error_messages,
            &access_tokens,
            &refresh_tokens,
            &authorize_urls,
            &states,
            &expires,
            &refreshed,
            &refresh_errors,
        ],
    )
    .await?;
    Ok(())
}

/// Adds the seeded grants whose refresh token is not known yet (SQLite's
/// `sandbox::insert_grants_if_absent`): `Invalid` naming an unknown client.
async fn insert_grants_if_absent(tx: &Transaction<'_>, grants: &[SandboxGrantSeed]) -> StoreResult<()> {
    let known = tx
        .prepare_cached(
            "SELECT h FROM unnest($1::BYTEA[]) AS u(h) WHERE EXISTS (SELECT 1 FROM sandbox_refresh_tokens t WHERE t.token_sha256 = u.h)",
        )
        .await?;
    let clients =
        tx.prepare_cached("SELECT client_id, refresh_ttl_secs FROM sandbox_clients WHERE client_id = ANY($1)").await?;
    let ids = tx
        .prepare_cached(
            "SELECT nextval(pg_get_serial_sequence('sandbox_grants', 'id')) FROM generate_series(1, $1::BIGINT)",
        )
        .await?;
    let insert_grants = tx
        .prepare_cached(
            "INSERT INTO sandbox_grants (id, client_id, subject, scope, created_at)
             SELECT u.id, u.client_id, u.subject, u.scope, xkit_now()
             FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], $4::TEXT[]) AS u(id, client_id, subject, scope)",
        )
        .await?;
    let insert_tokens = tx
        .prepare_cached(
            "INSERT INTO sandbox_refresh_tokens (token_sha256, grant_id, created_at, expires_at)
             SELECT u.h, u.grant_id, xkit_now(), xkit_now() + u.ttl * INTERVAL '1 second'
             FROM unnest($1::BYTEA[], $2::BIGINT[], $3::BIGINT[]) AS u(h, grant_id, ttl)",
        )
        .await?;
    let mut seen: HashSet<[u8; 32]> = HashSet::new();
    for grants in grants.chunks(CHUNK) {
        let hashed: Vec<([u8; 32], &SandboxGrantSeed)> =
            grants.iter().map(|grant| (secret_hash(grant.refresh_token.expose_secret()), grant)).collect();
        let hashes: Vec<&[u8]> = hashed.iter().map(|(hash, _)| &hash[..]).collect();
        let stored: HashSet<Vec<u8>> =
            tx.query(&known, &[&hashes]).await?.iter().map(|row| row.get::<_, Vec<u8>>(0)).collect();
        // A token twice in the seed makes one grant, as SQLite's one-by-one check does.
        let new: Vec<&([u8; 32], &SandboxGrantSeed)> =
            hashed.iter().filter(|(hash, _)| !stored.contains(&hash[..]) && seen.insert(*hash)).collect();
        if new.is_empty() {
            continue;
        }
        let client_ids: Vec<&str> = new.iter().map(|(_, grant)| grant.client_id.as_str()).collect();
        let ttls: HashMap<String, Option<i64>> =
            tx.query(&clients, &[&client_ids]).await?.iter().map(|row| (row.get(0), row.get(1))).collect();
        if let Some(unknown) = client_ids.iter().find(|client_id| !ttls.contains_key(**client_id)) {
            return Err(StoreError::Invalid(format!("no sandbox client {unknown:?}")));
        }
        let grant_ids: Vec<i64> = tx.query(&ids, &[&(new.len() as i64)]).await?.iter().map(|row| row.get(0)).collect();
        let subjects: Vec<&str> = new.iter().map(|(_, grant)| grant.subject.as_str()).collect();
        let scopes: Vec<&str> = new.iter().map(|(_, grant)| grant.scope.as_str()).collect();
        tx.execute(&insert_grants, &[&grant_ids, &client_ids, &subjects, &scopes]).await?;
        let new_hashes: Vec<&[u8]> = new.iter().map(|(hash, _)| &hash[..]).collect();
        let grant_ttls: Vec<Option<i64>> = client_ids.iter().map(|client_id| ttls[*client_id]).collect();
        tx.execute(&insert_tokens, &[&new_hashes, &grant_ids, &grant_ttls]).await?;
    }
    Ok(())
}

/// Ends a bulk import: its one event and the counts of its rows, added to the counters (SQLite
/// recounts everything, which on one writer comes to the same). Adding rather than recounting
/// leaves other nodes' concurrent changes to their own triggers, and takes its locks in the
/// order the row-by-row writers take them (the events' order, which every counter trigger
/// takes first, then the platform's count, the connector counts, the contexts), so that it
/// waits for them instead of deadlocking: with the counters paused no trigger took the events'
/// lock for it, and a row-by-row writer holding it while it waited for the platform's count
/// deadlocked with this transaction's event.
async fn count_imported(tx: &Transaction<'_>, report: &ImportReport, imported: &[i64]) -> StoreResult<()> {
    let events_order = tx.prepare_cached("SELECT pg_advisory_xact_lock($1)").await?;
    tx.execute(&events_order, &[&EVENTS_LOCK]).await?;
    if report.contexts_added > 0 {
        let contexts = tx.prepare_cached("UPDATE platform_counts SET contexts = contexts + $1 WHERE id = 1").await?;
        tx.execute(&contexts, &[&(report.contexts_added as i64)]).await?;
    }
    if report.contexts_added > 0 || report.connections_added > 0 {
        let event = tx
            .prepare_cached(
                "SELECT xkit_admin_event('platform.imported', NULL, jsonb_build_object('connectors', $1::BIGINT,
                     'contexts_added', $2::BIGINT, 'connections_added', $3::BIGINT))",
            )
            .await?;
        let counts = [report.connectors, report.contexts_added, report.connections_added].map(|n| n as i64);
        tx.execute(&event, &[&counts[0], &counts[1], &counts[2]]).await?;
    }
    if imported.is_empty() {
        return Ok(());
    }
    let health_counts = tx
        .prepare_cached(
            "INSERT INTO health_counts (connector_slug, health, connections)
             SELECT c.connector_slug, c.health, count(*) FROM connections c
             WHERE c.seq IN (SELECT unnest($1::BIGINT[])) GROUP BY c.connector_slug, c.health
             ORDER BY c.connector_slug, c.health
             ON CONFLICT (connector_slug, health) DO UPDATE SET connections = health_counts.connections + excluded.connections",
        )
        .await?;
    tx.execute(&health_counts, &[&imported]).await?;
    // Locked first, as the counter triggers do (`triggers.rs`): the counts then see every
    // concurrent change of these contexts that committed meanwhile.
    let touched = tx
        .prepare_cached(
            "SELECT 1 FROM contexts WHERE id IN
                 (SELECT c.context_id FROM connections c WHERE c.seq IN (SELECT unnest($1::BIGINT[])))
             ORDER BY id FOR NO KEY UPDATE",
        )
        .await?;
    tx.execute(&touched, &[&imported]).await?;
    let contexts = tx
        .prepare_cached(&format!(
            "UPDATE contexts x SET (connection_count, severity) =
                 (SELECT count(*), COALESCE(max({severity}), 0) FROM connections c WHERE c.context_id = x.id)
             WHERE x.id IN (SELECT DISTINCT c.context_id FROM connections c WHERE c.seq IN (SELECT unnest($1::BIGINT[])))",
            severity = severity_sql("c.health")
        ))
        .await?;
    tx.execute(&contexts, &[&imported]).await?;
    Ok(())
}
