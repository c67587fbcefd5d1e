//! The record types the store's API takes and returns: the only shapes routes see.

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::sandbox::{SandboxClientConfig, SandboxGrantSeed};
use crate::model::{AuthorizationStatus, Connector, Context, Platform};

/// A connector's OAuth2 client settings, used for token refresh; never served to anyone.
#[derive(Debug, Clone)]
pub struct ConnectorOAuth {
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub scopes: Vec<String>,
}

/// A connector as stored: its public face plus its private OAuth settings.
#[derive(Debug, Clone)]
pub struct ConnectorRecord {
    pub connector: Connector,
    pub oauth: Option<ConnectorOAuth>,
    /// The field collected as the credential by connectors without OAuth2 (API keys).
    pub credential_field: Option<String>,
}

/// An authorization as stored, including the refresh token that no route returns.
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRecord {
    pub status: AuthorizationStatus,
    pub display_label: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub access_token: Option<SecretString>,
    pub refresh_token: Option<SecretString>,
    pub authorize_url: Option<String>,
    pub state: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub refresh_error: Option<String>,
}

/// A connection to create (seed import).
#[derive(Debug, Clone)]
pub struct NewConnection {
    pub id: String,
    pub context_external_id: String,
    pub connector_slug: String,
    pub enabled: bool,
    pub authorization: Option<AuthorizationRecord>,
}

/// Everything a seed file brings, validated. Platform and connectors are configuration and
/// are upserted; contexts and connections are data and are only inserted when absent, so
/// loading a seed again never duplicates or overwrites what the platform has since learned.
#[derive(Debug, Clone, Default)]
pub struct ImportBatch {
    pub platform: Option<Platform>,
    pub connectors: Vec<ConnectorRecord>,
    pub contexts: Vec<Context>,
    pub connections: Vec<NewConnection>,
    pub sandbox: SandboxSeed,
    /// Web origins allowed to call the Platform User API (added when absent).
    pub origins: Vec<String>,
}

/// The sandbox provider's part of a seed: clients are configuration (upserted), grants are data
/// (added when their refresh token is unknown).
#[derive(Debug, Clone, Default)]
pub struct SandboxSeed {
    pub clients: Vec<SandboxClientConfig>,
    pub grants: Vec<SandboxGrantSeed>,
}

/// What an import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub connectors: usize,
    pub contexts_added: usize,
    pub connections_added: usize,
}

/// An API key as the authentication check needs it.
#[derive(Debug, Clone, Copy)]
pub struct StoredApiKey {
    pub secret_sha256: [u8; 32],
    pub last_used_at: Option<DateTime<Utc>>,
}

/// An API key as `keys list` shows it: never its secret, nor the secret's hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyInfo {
    pub publishable_key: String,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Whether a connection read includes its credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials {
    /// Single-connection reads: the credential under `credential` and `access_token` when active.
    Include,
    /// Every listing.
    Omit,
}
