//! What every handler shares: the store, the token signer, the key cache, the refresher.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;

use super::auth::KeyCache;
use super::refresh::Refresher;
use super::store::Store;
use super::tokens::TokenSigner;
use super::webhooks::WebhookSettings;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub tokens: Arc<TokenSigner>,
    pub keys: Arc<KeyCache>,
    pub refresher: Arc<Refresher>,
    /// Lifetime of the catalog links `repair_link` mints.
    pub repair_link_ttl: Duration,
    /// Delivery rules, for the SSRF check of `POST /webhooks`.
    pub webhooks: WebhookSettings,
}

/// The API key check needs only these two, so it does not depend on the whole state.
impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

impl FromRef<AppState> for Arc<KeyCache> {
    fn from_ref(state: &AppState) -> Self {
        state.keys.clone()
    }
}
