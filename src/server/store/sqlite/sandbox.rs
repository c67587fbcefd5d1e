//! SQLite's sandbox provider methods (statements and grant rules in `store/sandbox.rs`).

use async_trait::async_trait;
use secrecy::{ExposeSecret as _, SecretString};

use super::SqliteStore;
use crate::server::store::error::StoreResult;
use crate::server::store::interface::SandboxStore;
use crate::server::store::sandbox::{self, NewCode, SandboxClient, SandboxGrantView, SandboxIssued, SandboxRefusal};
#[async_trait]
impl SandboxStore for SqliteStore {
    async fn sandbox_client(&self, client_id: String) -> StoreResult<Option<SandboxClient>> {
        self.read(move |db| sandbox::client(db, &client_id)).await
    }

    async fn sandbox_add_code(&self, code: NewCode) -> StoreResult<()> {
        self.write(move |tx| sandbox::add_code(tx, &code)).await
    }

    async fn sandbox_exchange_code(
        &self,
        client_id: String,
        code: SecretString,
        redirect_uri: Option<String>,
        code_verifier: Option<String>,
        new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
        self.write(move |tx| {
            sandbox::exchange_code(
                tx,
                &client_id,
                code.expose_secret(),
                redirect_uri.as_deref(),
                code_verifier.as_deref(),
                &new_refresh_token,
            )
        })
        .await
    }

    async fn sandbox_refresh(
        &self,
        client_id: String,
        refresh_token: SecretString,
        new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
        self.write(move |tx| sandbox::refresh(tx, &client_id, refresh_token.expose_secret(), &new_refresh_token)).await
    }

    async fn sandbox_revoke_token(&self, client_id: String, token: SecretString) -> StoreResult<bool> {
        self.write(move |tx| sandbox::revoke_by_refresh_token(tx, &client_id, token.expose_secret())).await
    }

    async fn sandbox_revoke_grant(&self, grant_id: i64) -> StoreResult<bool> {
        self.write(move |tx| sandbox::revoke_grant(tx, grant_id, sandbox::REVOKED_BY_ADMIN)).await
    }

    async fn sandbox_grants(&self, limit: usize) -> StoreResult<Vec<SandboxGrantView>> {
        self.read(move |db| sandbox::list_grants(db, limit)).await
    }
}
