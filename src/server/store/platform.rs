//! The platform record, API keys and seed imports.

use rusqlite::{Connection as Db, OptionalExtension, Transaction, params};
use secrecy::ExposeSecret;

use super::error::{StoreError, StoreResult};
use super::records::{ApiKeyInfo, ImportBatch, ImportReport, StoredApiKey};
use super::sql::{now_text, parse_timestamp};
use super::{bulk_import, connections, contexts, counters, events, sandbox};
use crate::model::Platform;

/// Until a seed names it, a fresh platform is called this (the slug binds context tokens).
pub(super) const DEFAULT_NAME: &str = "Local platform";
pub(super) const DEFAULT_SLUG: &str = "local";

pub(super) fn ensure_default_platform(db: &Db) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO platform (id, name, slug) VALUES (1, ?1, ?2) ON CONFLICT (id) DO NOTHING",
        params![DEFAULT_NAME, DEFAULT_SLUG],
    )?;
    Ok(())
}

pub(super) fn get(db: &Db) -> StoreResult<Platform> {
    let mut statement = db.prepare_cached(
        "SELECT name, slug, custom_domain, website, login_redirect_url, remove_branding FROM platform WHERE id = 1",
    )?;
    Ok(statement.query_row([], |row| {
        Ok(Platform {
            name: row.get(0)?,
            slug: row.get(1)?,
            custom_domain: row.get(2)?,
            website: row.get(3)?,
            login_redirect_url: row.get(4)?,
            remove_branding: row.get(5)?,
        })
    })?)
}

pub(super) fn is_empty(db: &Db) -> StoreResult<bool> {
    let mut statement =
        db.prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM connectors) AND NOT EXISTS (SELECT 1 FROM contexts)")?;
    Ok(statement.query_row([], |row| row.get(0))?)
}

pub(super) fn import(tx: &Transaction<'_>, batch: &ImportBatch) -> StoreResult<ImportReport> {
    let started = std::time::Instant::now();
    let mut report = ImportReport::default();
    if let Some(platform) = &batch.platform {
        tx.execute(
            "UPDATE platform SET name = ?1, slug = ?2, custom_domain = ?3, website = ?4, login_redirect_url = ?5,
                 remove_branding = ?6 WHERE id = 1",
            params![
                platform.name,
                platform.slug,
                platform.custom_domain,
                platform.website,
                platform.login_redirect_url,
                platform.remove_branding
            ],
        )?;
    }
    for origin in &batch.origins {
        add_web_origin(tx, origin)?;
    }
    for record in &batch.connectors {
        let connector = &record.connector;
        let oauth = record.oauth.as_ref();
        tx.execute(
            "INSERT INTO connectors (slug, name, short_description, mark_url, about, description,
                 supports_multiple_connections, oauth_authorize_url, oauth_token_url, oauth_client_id,
                 oauth_client_secret, oauth_scopes, credential_field)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT (slug) DO UPDATE SET name = excluded.name, short_description = excluded.short_description,
                 mark_url = excluded.mark_url, about = excluded.about, description = excluded.description,
                 supports_multiple_connections = excluded.supports_multiple_connections,
                 oauth_authorize_url = excluded.oauth_authorize_url, oauth_token_url = excluded.oauth_token_url,
                 oauth_client_id = excluded.oauth_client_id, oauth_client_secret = excluded.oauth_client_secret,
                 oauth_scopes = excluded.oauth_scopes, credential_field = excluded.credential_field",
            params![
                connector.slug,
                connector.name,
                connector.short_description,
                connector.mark_url,
                connector.about,
                connector.description,
                connector.supports_multiple_connections,
                oauth.map(|oauth| &oauth.authorize_url),
                oauth.map(|oauth| &oauth.token_url),
                oauth.map(|oauth| &oauth.client_id),
                oauth.map(|oauth| oauth.client_secret.expose_secret()),
                oauth.map(|oauth| oauth.scopes.join(" ")),
                record.credential_field,
            ],
        )?;
        report.connectors += 1;
    }
    for client in &batch.sandbox.clients {
        sandbox::upsert_client(tx, client)?;
    }
    // Counting a million rows one by one costs more than counting them once at the end, and
    // building indexes once more than updating them a million times (`bulk_import`).
    let bulk = batch.connections.len() >= counters::BULK_IMPORT;
    if bulk {
        counters::pause(tx)?;
        events::quiet_rows(tx)?;
    }
    let deferred = if bulk && bulk_import::worth_deferring(tx, batch.connections.len())? {
        Some(bulk_import::start(tx)?)
    } else {
        None
    };
    for context in &batch.contexts {
        if contexts::insert_if_absent(tx, context)? {
            report.contexts_added += 1;
        }
    }
    // Connections come grouped by context (a generated platform's always are): each context's
    // row id is looked up once per group.
    let mut context: Option<(&str, i64)> = None;
    for connection in &batch.connections {
        let external_id = connection.context_external_id.as_str();
        let context_id = match context {
            Some((known, id)) if known == external_id => id,
            _ => contexts::row_id(tx, external_id)?,
        };
        context = Some((external_id, context_id));
        if connections::insert_if_absent(tx, connection, context_id)? {
            report.connections_added += 1;
        }
    }
    sandbox::insert_grants_if_absent(tx, &batch.sandbox.grants)?;
    let inserted = started.elapsed();
    if let Some(deferred) = deferred {
        bulk_import::finish(tx, deferred)?;
    }
    let indexed = started.elapsed();
    if bulk {
        events::imported(tx, &report)?;
        counters::resume_and_recount(tx)?;
        tracing::debug!(?inserted, ?indexed, counted = ?started.elapsed(), "bulk import written");
    }
    Ok(report)
}

pub(super) fn add_api_key(tx: &Transaction<'_>, publishable_key: &str, secret_sha256: &[u8; 32]) -> StoreResult<()> {
    let inserted = tx.execute(
        "INSERT INTO api_keys (publishable_key, secret_sha256, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (publishable_key) DO NOTHING",
        params![publishable_key, &secret_sha256[..], now_text()],
    )?;
    if inserted == 0 {
        return Err(StoreError::Conflict("publishable key already exists".into()));
    }
    Ok(())
}

pub(super) fn api_key(db: &Db, publishable_key: &str) -> StoreResult<Option<StoredApiKey>> {
    let mut statement =
        db.prepare_cached("SELECT secret_sha256, last_used_at FROM api_keys WHERE publishable_key = ?1")?;
    let row: Option<(Vec<u8>, Option<String>)> =
        statement.query_row([publishable_key], |row| Ok((row.get(0)?, row.get(1)?))).optional()?;
    Ok(row.and_then(|(hash, last_used_at)| {
        let secret_sha256 = <[u8; 32]>::try_from(hash.as_slice()).ok()?;
        Some(StoredApiKey { secret_sha256, last_used_at: parse_timestamp(last_used_at) })
    }))
}

pub(super) fn touch_api_key(tx: &Transaction<'_>, publishable_key: &str) -> StoreResult<()> {
    tx.execute(
        "UPDATE api_keys SET last_used_at = ?1 WHERE publishable_key = ?2",
        params![now_text(), publishable_key],
    )?;
    Ok(())
}

pub(super) fn api_keys(db: &Db) -> StoreResult<Vec<ApiKeyInfo>> {
    let mut statement = db.prepare_cached(
        "SELECT publishable_key, created_at, last_used_at FROM api_keys ORDER BY created_at, publishable_key",
    )?;
    let keys = statement.query_map([], |row| {
        Ok(ApiKeyInfo {
            publishable_key: row.get(0)?,
            created_at: parse_timestamp(row.get(1)?),
            last_used_at: parse_timestamp(row.get(2)?),
        })
    })?;
    Ok(keys.collect::<rusqlite::Result<_>>()?)
}

/// Adds a web origin (already validated); false when it was there.
pub(super) fn add_web_origin(tx: &Transaction<'_>, origin: &str) -> StoreResult<bool> {
    let inserted = tx.execute(
        "INSERT INTO web_origins (origin, created_at) VALUES (?1, ?2) ON CONFLICT (origin) DO NOTHING",
        params![origin, now_text()],
    )?;
    Ok(inserted == 1)
}

pub(super) fn web_origins(db: &Db) -> StoreResult<Vec<String>> {
    let mut statement = db.prepare_cached("SELECT origin FROM web_origins ORDER BY origin")?;
    let origins = statement.query_map([], |row| row.get(0))?;
    Ok(origins.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn is_web_origin(db: &Db, origin: &str) -> StoreResult<bool> {
    let mut statement = db.prepare_cached("SELECT EXISTS (SELECT 1 FROM web_origins WHERE origin = ?1)")?;
    Ok(statement.query_row([origin], |row| row.get(0))?)
}

pub(super) fn remove_web_origin(tx: &Transaction<'_>, origin: &str) -> StoreResult<()> {
    if tx.execute("DELETE FROM web_origins WHERE origin = ?1", [origin])? == 0 {
        return Err(StoreError::NotFound(format!("no web origin {origin:?} on this platform")));
    }
    Ok(())
}

pub(super) fn revoke_api_key(tx: &Transaction<'_>, publishable_key: &str) -> StoreResult<()> {
    if tx.execute("DELETE FROM api_keys WHERE publishable_key = ?1", [publishable_key])? == 0 {
        return Err(StoreError::NotFound(format!("no API key {publishable_key:?} on this platform")));
    }
    Ok(())
}
