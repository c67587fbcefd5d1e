//! PostgreSQL's sandbox provider methods: SQLite's statements (`store/sandbox.rs`), with its
//! grant rules (`check_code`, `check_refresh_token`) applied to rows locked first.
//!
//! Several nodes answer the token endpoint at once, so what SQLite's single writer guarantees
//! is here a row lock: a code or refresh token is read `FOR UPDATE` (with its grant) in the
//! transaction that spends it, so the same code or refresh token presented twice at once is
//! spent by one transaction; the other waits, then sees it spent (a replay: the grant is
//! revoked, as on SQLite).

use async_trait::async_trait;
use chrono::{DateTime, Duration as TimeDelta, SubsecRound as _, Utc};
use deadpool_postgres::{GenericClient, Transaction};
use secrecy::{ExposeSecret as _, SecretString};

use super::PgStore;
use crate::server::secret::secret_hash as sha256;
use crate::server::store::actor;
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::interface::SandboxStore;
use crate::server::store::sandbox::{
    self, CodeCheck, NewCode, RefreshCheck, SandboxClient, SandboxGrantView, SandboxIssued, SandboxRefusal, StoredCode,
    StoredRefreshToken,
};

#[async_trait]
impl SandboxStore for PgStore {
    async fn sandbox_client(&self, client_id: String) -> StoreResult<Option<SandboxClient>> {
        client(&self.client().await?, &client_id).await
    }

    async fn sandbox_add_code(&self, code: NewCode) -> StoreResult<()> {
        self.write(actor::current().as_deref(), |tx| Box::pin(async move { add_code(tx, &code).await })).await
    }

    async fn sandbox_exchange_code(
        &self,
        client_id: String,
        code: SecretString,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move {
                let exchange = Exchange {
                    client_id: &client_id,
                    code: code.expose_secret(),
                    redirect_uri: redirect_uri.as_deref(),
                    code_verifier: code_verifier.as_deref(),
                };
                exchange_code(tx, exchange, &new_refresh_token).await
            })
        })
        .await
    }

    async fn sandbox_refresh(
        &self,
        client_id: String,
        refresh_token: SecretString,
        new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move { refresh(tx, &client_id, refresh_token.expose_secret(), &new_refresh_token).await })
        })
        .await
    }

    async fn sandbox_revoke_token(&self, client_id: String, token: SecretString) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move {
                let grant = tx
                    .prepare_cached(
                        "SELECT t.grant_id FROM sandbox_refresh_tokens t JOIN sandbox_grants g ON g.id = t.grant_id
                         WHERE t.token_sha256 = $1 AND g.client_id = $2",
                    )
                    .await?;
                let hash = sha256(token.expose_secret());
                match tx.query_opt(&grant, &[&&hash[..], &client_id]).await? {
                    Some(row) => revoke_grant(tx, row.get(0), sandbox::REVOKED_BY_CLIENT).await,
                    None => Ok(false),
                }
            })
        })
        .await
    }

    async fn sandbox_revoke_grant(&self, grant_id: i64) -> StoreResult<bool> {
        self.write(actor::current().as_deref(), |tx| {
            Box::pin(async move { revoke_grant(tx, grant_id, sandbox::REVOKED_BY_ADMIN).await })
        })
        .await
    }

    async fn sandbox_grants(&self, limit: usize) -> StoreResult<Vec<SandboxGrantView>> {
        let db = self.client().await?;
        let statement = db
            .prepare_cached(
                "SELECT g.id, g.client_id, c.name, g.subject, g.scope, g.created_at, g.last_used_at, g.revoked_at,
                     g.revoked_reason
                 FROM sandbox_grants g JOIN sandbox_clients c ON c.client_id = g.client_id ORDER BY g.id DESC LIMIT $1",
            )
            .await?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = db.query(&statement, &[&limit]).await?;
        Ok(rows
            .iter()
            .map(|row| SandboxGrantView {
                id: row.get(0),
                client_id: row.get(1),
                client_name: row.get(2),
                subject: row.get(3),
                scope: row.get(4),
                created_at: row.get(5),
                last_used_at: row.get(6),
                revoked_at: row.get(7),
                revoked_reason: row.get(8),
            })
            .collect())
    }
}

async fn client(db: &impl GenericClient, client_id: &str) -> StoreResult<Option<SandboxClient>> {
    let statement = db
        .prepare_cached(
            "SELECT client_id, secret_sha256, name, redirect_uris, access_ttl_secs, refresh_ttl_secs
             FROM sandbox_clients WHERE client_id = $1",
        )
        .await?;
    Ok(db.query_opt(&statement, &[&client_id]).await?.map(|row| {
        let hash: Vec<u8> = row.get(1);
        SandboxClient {
            client_id: row.get(0),
            secret_sha256: <[u8; 32]>::try_from(hash.as_slice()).unwrap_or_default(),
            name: row.get(2),
            redirect_uris: row.get::<_, String>(3).split_whitespace().map(str::to_owned).collect(),
            access_ttl_secs: row.get(4),
            refresh_ttl_secs: row.get(5),
        }
    }))
}

async fn add_code(tx: &Transaction<'_>, code: &NewCode) -> StoreResult<()> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO sandbox_codes (code_sha256, client_id, subject, scope, redirect_uri, code_challenge, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    let hash = sha256(code.code.expose_secret());
    let expires_at = stored_time(code.expires_at);
    tx.execute(
        &insert,
        &[
            &&hash[..],
            &code.client_id,
            &code.subject,
            &code.scope,
            &code.redirect_uri,
            &code.code_challenge,
            &expires_at,
        ],
    )
    .await?;
    Ok(())
}

/// What the client presented with `grant_type=authorization_code`.
struct Exchange<'a> {
    client_id: &'a str,
    code: &'a str,
    redirect_uri: Option<&'a str>,
    code_verifier: Option<&'a str>,
}

/// SQLite's `sandbox::exchange_code`. The code's row is locked: of two exchanges of one code at
/// once, the second waits for the first to commit and then sees the code used (a replay).
async fn exchange_code(
    tx: &Transaction<'_>,
    exchange: Exchange<'_>,
    new_refresh_token: &SecretString,
) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
    let hash = sha256(exchange.code);
    let select = tx
        .prepare_cached(
            "SELECT client_id, subject, scope, redirect_uri, code_challenge, expires_at, used_at IS NOT NULL, grant_id
             FROM sandbox_codes WHERE code_sha256 = $1 FOR UPDATE",
        )
        .await?;
    let stored = tx.query_opt(&select, &[&&hash[..]]).await?.map(|row| StoredCode {
        owner: row.get(0),
        subject: row.get(1),
        scope: row.get(2),
        redirect_uri: row.get(3),
        code_challenge: row.get(4),
        expires_at: Some(row.get(5)),
        used: row.get(6),
        grant_id: row.get(7),
    });
    let checked = sandbox::check_code(stored, exchange.client_id, exchange.redirect_uri, exchange.code_verifier);
    let StoredCode { subject, scope, .. } = match checked {
        CodeCheck::Refused(refusal) => return Ok(Err(refusal)),
        CodeCheck::Replayed(grant_id) => {
            if let Some(grant_id) = grant_id {
                revoke_grant(tx, grant_id, sandbox::CODE_REPLAYED).await?;
            }
            return Ok(Err(sandbox::code_replayed()));
        }
        CodeCheck::Valid(code) => code,
    };
    let client = client(tx, exchange.client_id).await?.ok_or_else(|| StoreError::NotFound("no such client".into()))?;
    let grant_id = create_grant(tx, exchange.client_id, &subject, &scope).await?;
    let spend =
        tx.prepare_cached("UPDATE sandbox_codes SET used_at = $1, grant_id = $2 WHERE code_sha256 = $3").await?;
    tx.execute(&spend, &[&now(), &grant_id, &&hash[..]]).await?;
    insert_refresh_token(tx, &sha256(new_refresh_token.expose_secret()), grant_id, &client).await?;
    Ok(Ok(SandboxIssued { grant_id, scope, access_ttl_secs: client.access_ttl_secs }))
}

/// SQLite's `sandbox::refresh`. The token's row and its grant's are locked: of two refreshes
/// with one token at once (two nodes), the second waits for the first to commit and then sees
/// the token consumed: reuse, which revokes the grant, as the same two requests one after the
/// other do on SQLite. Never do both get new tokens.
async fn refresh(
    tx: &Transaction<'_>,
    client_id: &str,
    refresh_token: &str,
    new_refresh_token: &SecretString,
) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
    let hash = sha256(refresh_token);
    let select = tx
        .prepare_cached(
            "SELECT t.grant_id, t.expires_at, t.consumed_at IS NOT NULL, g.client_id, g.scope, g.revoked_at IS NOT NULL
             FROM sandbox_refresh_tokens t JOIN sandbox_grants g ON g.id = t.grant_id WHERE t.token_sha256 = $1
             FOR UPDATE OF t, g",
        )
        .await?;
    let stored = tx.query_opt(&select, &[&&hash[..]]).await?.map(|row| StoredRefreshToken {
        grant_id: row.get(0),
        expires_at: row.get(1),
        consumed: row.get(2),
        owner: row.get(3),
        scope: row.get(4),
        revoked: row.get(5),
    });
    let StoredRefreshToken { grant_id, scope, .. } = match sandbox::check_refresh_token(stored, client_id) {
        RefreshCheck::Refused(refusal) => return Ok(Err(refusal)),
        RefreshCheck::Reused(grant_id) => {
            revoke_grant(tx, grant_id, sandbox::REFRESH_TOKEN_REUSED).await?;
            return Ok(Err(sandbox::refresh_token_reused()));
        }
        RefreshCheck::Valid(token) => token,
    };
    let client = client(tx, client_id).await?.ok_or_else(|| StoreError::NotFound("no such client".into()))?;
    let now = now();
    let consume =
        tx.prepare_cached("UPDATE sandbox_refresh_tokens SET consumed_at = $1 WHERE token_sha256 = $2").await?;
    tx.execute(&consume, &[&now, &&hash[..]]).await?;
    let used = tx.prepare_cached("UPDATE sandbox_grants SET last_used_at = $1 WHERE id = $2").await?;
    tx.execute(&used, &[&now, &grant_id]).await?;
    insert_refresh_token(tx, &sha256(new_refresh_token.expose_secret()), grant_id, &client).await?;
    Ok(Ok(SandboxIssued { grant_id, scope, access_ttl_secs: client.access_ttl_secs }))
}

/// Revokes a grant unless it already is (one conditional update, so two revocations at once
/// revoke it once); false if unknown or already revoked.
async fn revoke_grant(tx: &Transaction<'_>, grant_id: i64, reason: &str) -> StoreResult<bool> {
    let revoke = tx
        .prepare_cached(
            "UPDATE sandbox_grants SET revoked_at = $1, revoked_reason = $2 WHERE id = $3 AND revoked_at IS NULL",
        )
        .await?;
    Ok(tx.execute(&revoke, &[&now(), &reason, &grant_id]).await? > 0)
}

async fn create_grant(tx: &Transaction<'_>, client_id: &str, subject: &str, scope: &str) -> StoreResult<i64> {
    let insert = tx
        .prepare_cached(
            "INSERT INTO sandbox_grants (client_id, subject, scope, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .await?;
    Ok(tx.query_one(&insert, &[&client_id, &subject, &scope, &now()]).await?.get(0))
}

async fn insert_refresh_token(
    tx: &Transaction<'_>,
    token_sha256: &[u8; 32],
    grant_id: i64,
    client: &SandboxClient,
) -> StoreResult<()> {
    let now = now();
    let expires_at = client.refresh_ttl_secs.map(|secs| now + TimeDelta::seconds(secs));
    let insert = tx
        .prepare_cached(
            "INSERT INTO sandbox_refresh_tokens (token_sha256, grant_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(&insert, &[&&token_sha256[..], &grant_id, &now, &expires_at]).await?;
    Ok(())
}

/// Now, to the second, as SQLite stores times (`sql::now_text`).
fn now() -> DateTime<Utc> {
    stored_time(Utc::now())
}

/// A time to the second, as SQLite stores it (`sql::timestamp_text`).
fn stored_time(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(0)
}
