//! [`Store`]'s sandbox provider methods (statements and grant rules in `sandbox`).

use secrecy::{ExposeSecret as _, SecretString};

use super::Store;
use super::error::StoreResult;
use super::sandbox::{self, NewCode, SandboxClient, SandboxGrantView, SandboxIssued, SandboxRefusal};
impl Store {
    pub async fn sandbox_client(&self, client_id: String) -> StoreResult<Option<SandboxClient>> {
        self.read(move |db| sandbox::client(db, &client_id)).await
    }

    pub async fn sandbox_add_code(&self, code: NewCode) -> StoreResult<()> {
        self.write(move |tx| sandbox::add_code(tx, &code)).await
    }

    /// `grant_type=authorization_code`: on success a grant exists whose refresh token is
    /// `new_refresh_token`.
    pub async fn sandbox_exchange_code(
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

    /// `grant_type=refresh_token` with rotation and reuse detection.
    pub async fn sandbox_refresh(
        &self,
        client_id: String,
        refresh_token: SecretString,
        new_refresh_token: SecretString,
    ) -> StoreResult<Result<SandboxIssued, SandboxRefusal>> {
        self.write(move |tx| sandbox::refresh(tx, &client_id, refresh_token.expose_secret(), &new_refresh_token)).await
    }

    pub async fn sandbox_revoke_token(&self, client_id: String, token: SecretString) -> StoreResult<bool> {
        self.write(move |tx| sandbox::revoke_by_refresh_token(tx, &client_id, token.expose_secret())).await
    }

    pub async fn sandbox_revoke_grant(&self, grant_id: i64) -> StoreResult<bool> {
        self.write(move |tx| sandbox::revoke_grant(tx, grant_id, "revoked on the sandbox admin page")).await
    }

    pub async fn sandbox_grants(&self, limit: usize) -> StoreResult<Vec<SandboxGrantView>> {
        self.read(move |db| sandbox::list_grants(db, limit)).await
    }
}
