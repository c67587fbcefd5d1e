//! PostgreSQL's `PlatformStore`: the platform record, API keys, web origins, the counters behind
//! `GET /stats` and the shared signing key; contexts are `contexts.rs`, imports `import.rs`.
//! Each statement is SQLite's (`store/platform.rs`, `store/counters.rs`) with the same results
//! and errors.

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretSlice};

use super::{PgStore, contexts, import};
use crate::model::{Context, Platform, PlatformStats};
use crate::server::store::context_list::ContextQuery;
use crate::server::store::cursor::{Page, PageRequest};
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::interface::PlatformStore;
use crate::server::store::records::{ApiKeyInfo, ImportBatch, ImportReport, StoredApiKey};
use crate::server::store::{actor, counters};

/// The advisory lock (transaction scope) under which a node stores the first signing key: the
/// table has no unique key per slug (a later key may replace it), so the check and the insert
/// of two nodes starting at once are serialized by it instead of `ON CONFLICT`.
const SIGNING_KEY_LOCK: i64 = 0x786b_6974_0003;

#[async_trait]
impl PlatformStore for PgStore {
    async fn platform(&self) -> StoreResult<Platform> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT name, slug, custom_domain, website, login_redirect_url, remove_branding FROM platform WHERE id = 1",
            )
            .await?;
        let row = client.query_one(&statement, &[]).await?;
        Ok(Platform {
            name: row.get(0),
            slug: row.get(1),
            custom_domain: row.get(2),
            website: row.get(3),
            login_redirect_url: row.get(4),
            remove_branding: row.get(5),
        })
    }

    async fn is_empty(&self) -> StoreResult<bool> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT NOT EXISTS (SELECT 1 FROM connectors) AND NOT EXISTS (SELECT 1 FROM contexts)")
            .await?;
        Ok(client.query_one(&statement, &[]).await?.get(0))
    }

    async fn import(&self, batch: ImportBatch) -> StoreResult<ImportReport> {
        self.write(actor::current().as_deref(), move |tx| Box::pin(async move { import::import(tx, &batch).await }))
            .await
    }

    async fn add_api_key(&self, publishable_key: String, secret_sha256: [u8; 32]) -> StoreResult<()> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached(
                        "INSERT INTO api_keys (publishable_key, secret_sha256, created_at) VALUES ($1, $2, xkit_now())
                         ON CONFLICT (publishable_key) DO NOTHING",
                    )
                    .await?;
                if tx.execute(&statement, &[&publishable_key, &&secret_sha256[..]]).await? == 0 {
                    return Err(StoreError::Conflict("publishable key already exists".into()));
                }
                Ok(())
            })
        })
        .await
    }

    async fn api_key(&self, publishable_key: String) -> StoreResult<Option<StoredApiKey>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT secret_sha256, last_used_at FROM api_keys WHERE publishable_key = $1")
            .await?;
        let row = client.query_opt(&statement, &[&publishable_key]).await?;
        Ok(row.and_then(|row| {
            let secret_sha256 = <[u8; 32]>::try_from(row.get::<_, &[u8]>(0)).ok()?;
            Some(StoredApiKey { secret_sha256, last_used_at: row.get(1) })
        }))
    }

    async fn touch_api_key(&self, publishable_key: String) -> StoreResult<()> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                let statement = tx
                    .prepare_cached("UPDATE api_keys SET last_used_at = xkit_now() WHERE publishable_key = $1")
                    .await?;
                tx.execute(&statement, &[&publishable_key]).await?;
                Ok(())
            })
        })
        .await
    }

    async fn api_keys(&self) -> StoreResult<Vec<ApiKeyInfo>> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT publishable_key, created_at, last_used_at FROM api_keys ORDER BY created_at, publishable_key",
            )
            .await?;
        let rows = client.query(&statement, &[]).await?;
        Ok(rows
            .iter()
            .map(|row| ApiKeyInfo { publishable_key: row.get(0), created_at: row.get(1), last_used_at: row.get(2) })
            .collect())
    }

    async fn revoke_api_key(&self, publishable_key: String) -> StoreResult<()> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached("DELETE FROM api_keys WHERE publishable_key = $1").await?;
                if tx.execute(&statement, &[&publishable_key]).await? == 0 {
                    return Err(StoreError::NotFound(format!("no API key {publishable_key:?} on this platform")));
                }
                Ok(())
            })
        })
        .await
    }

    async fn add_web_origin(&self, origin: String) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { import::add_web_origin(tx, &origin).await })
        })
        .await
    }

    async fn web_origins(&self) -> StoreResult<Vec<String>> {
        let client = self.client().await?;
        let statement = client.prepare_cached("SELECT origin FROM web_origins ORDER BY origin").await?;
        Ok(client.query(&statement, &[]).await?.iter().map(|row| row.get(0)).collect())
    }

    async fn remove_web_origin(&self, origin: String) -> StoreResult<()> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached("DELETE FROM web_origins WHERE origin = $1").await?;
                if tx.execute(&statement, &[&origin]).await? == 0 {
                    return Err(StoreError::NotFound(format!("no web origin {origin:?} on this platform")));
                }
                Ok(())
            })
        })
        .await
    }

    async fn is_web_origin(&self, origin: String) -> StoreResult<bool> {
        let client = self.client().await?;
        let statement = client.prepare_cached("SELECT EXISTS (SELECT 1 FROM web_origins WHERE origin = $1)").await?;
        Ok(client.query_one(&statement, &[&origin]).await?.get(0))
    }

    async fn upsert_context(&self, context: Context) -> StoreResult<Context> {
        self.write(actor::current().as_deref(), move |tx| Box::pin(async move { contexts::upsert(tx, &context).await }))
            .await
    }

    async fn upsert_contexts(&self, batch: Vec<Context>) -> StoreResult<Context> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move {
                let mut stored = None;
                for context in &batch {
                    stored = Some(contexts::upsert(tx, context).await?);
                }
                stored.ok_or_else(|| StoreError::Invalid("no context given".into()))
            })
        })
        .await
    }

    async fn update_context(&self, external_id: String, update: Context) -> StoreResult<Context> {
        self.write(actor::current().as_deref(), move |tx| {
            Box::pin(async move { contexts::update(tx, &external_id, &update).await })
        })
        .await
    }

    async fn context(&self, external_id: String) -> StoreResult<Context> {
        let client = self.client().await?;
        contexts::get(&client, &external_id, false).await
    }

    async fn list_contexts(&self, query: ContextQuery, page: PageRequest) -> StoreResult<Page<Context>> {
        let client = self.client().await?;
        contexts::list(&client, &query, &page).await
    }

    async fn shared_signing_key(&self, candidate: SecretSlice<u8>) -> StoreResult<Option<SecretSlice<u8>>> {
        let key = self
            .write(None, move |tx| {
                Box::pin(async move {
                    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SIGNING_KEY_LOCK]).await?;
                    let insert = tx
                        .prepare_cached(
                            "INSERT INTO signing_keys (platform_slug, key, created_at)
                             SELECT p.slug, $1, now() FROM platform p
                             WHERE p.id = 1 AND NOT EXISTS (SELECT 1 FROM signing_keys k WHERE k.platform_slug = p.slug)",
                        )
                        .await?;
                    tx.execute(&insert, &[&candidate.expose_secret()]).await?;
                    // The newest key of the slug: a later key (rotation) replaces the first.
                    let stored = tx
                        .prepare_cached(
                            "SELECT k.key FROM signing_keys k JOIN platform p ON p.id = 1 AND k.platform_slug = p.slug
                             ORDER BY k.id DESC LIMIT 1",
                        )
                        .await?;
                    Ok(tx.query_one(&stored, &[]).await?.get::<_, Vec<u8>>(0))
                })
            })
            .await?;
        Ok(Some(SecretSlice::from(key)))
    }

    async fn stats(&self) -> StoreResult<PlatformStats> {
        let client = self.client().await?;
        let contexts = client.prepare_cached("SELECT contexts FROM platform_counts WHERE id = 1").await?;
        let contexts: Option<i64> = client.query_opt(&contexts, &[]).await?.map(|row| row.get(0));
        let mut stats = PlatformStats { contexts: contexts.unwrap_or(0).max(0) as u64, ..Default::default() };
        let counts = client
            .prepare_cached(
                "SELECT k.slug, h.health, h.connections FROM connectors k
                 LEFT JOIN health_counts h ON h.connector_slug = k.slug AND h.connections > 0 ORDER BY k.slug",
            )
            .await?;
        for row in client.query(&counts, &[]).await? {
            counters::tally(&mut stats, row.get(0), row.get(1), row.get(2));
        }
        Ok(stats)
    }
}
