//! Refresh on read: the routes that return a credential ask the [`Refresher`] for a fresh
//! connection first.
//!
//! The rules (after Nango's refresh engine):
//! - a token is refreshed when it has expired or expires within the margin (5 minutes), and at
//!   least half of its lifetime has gone, so a token that lives shorter than twice the margin is
//!   not refreshed on every read;
//! - the proactive scheduler (`scheduler`) goes through the same single flight and cooldowns,
//!   and also refreshes tokens not refreshed for a long time (idle), which providers revoke;
//! - single flight: one async mutex per connection; whoever takes it re-reads the row, so the
//!   readers that waited find the new token and make no request of their own; across processes
//!   on one database, a claim row does the same (the others wait for the result and re-read);
//! - the new access token and a rotated refresh token are saved in one transaction, and only if
//!   the refresh token used is still the stored one (a reconnect meanwhile wins); if the
//!   database cannot take them (down, restarting), the read answers 503 and the tokens are
//!   offered to it again in the background for a minute, since the provider may already have
//!   retired the stored refresh token;
//! - `invalid_grant` and other permanent errors make the authorization `error` with the
//!   provider's `error_code`/`error_message` and no credential;
//! - network errors, timeouts, 5xx and 429 are transient: `refresh_error` records them, the
//!   connection stays `active` and keeps its token (even an expired one: whether the user must
//!   act is what the status says, and a provider outage is not the user's to fix), and reads
//!   do not ask the provider again until a cooldown (or the provider's `Retry-After`) passes:
//!   kept in memory, and as the failure event's `retry_at`, which every node reads back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::oauth::{ProviderClient, TokenError};
use super::store::{IssuedTokens, ProviderFailure, RefreshState, Store, StoreError, StoreResult, actor};
use crate::model::{AuthorizationStatus, Connection};

/// A refresh claim (`Store::claim_refresh`) lasts the token request's timeout plus this.
const CLAIM_SLACK: Duration = Duration::from_secs(5);
/// How often a refresh that another process has claimed looks again.
const CLAIM_POLL: Duration = Duration::from_millis(100);
/// How long refreshed tokens the database could not take are offered to it again.
const SAVE_RETRY_FOR: Duration = Duration::from_secs(60);
/// The first wait before offering them again; it doubles up to [`SAVE_RETRY_MAX_WAIT`].
const SAVE_RETRY_FIRST_WAIT: Duration = Duration::from_millis(200);
/// Short, so that the save lands before the claim's lease ends and another node, claiming the
/// refresh again, spends the retired refresh token.
const SAVE_RETRY_MAX_WAIT: Duration = Duration::from_secs(1);
/// Bound on remembered cooldowns; past it, the ones that ended are forgotten.
const MAX_COOLDOWNS: usize = 10_000;

/// Tunables of the refresh engine.
#[derive(Debug, Clone, Copy)]
pub struct RefreshSettings {
    /// Refresh tokens that expire within this margin.
    pub margin: Duration,
    /// After a transient failure, reads leave the provider alone this long.
    pub cooldown: Duration,
    /// Per-request timeout of token endpoints, so a slow provider cannot hold reads forever.
    pub timeout: Duration,
}

impl Default for RefreshSettings {
    fn default() -> Self {
        Self {
            margin: Duration::from_secs(5 * 60),
            cooldown: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

/// Why a refresh is attempted, which decides whether it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A read of the credential: only an expiring token, and not while cooling down.
    Read,
    /// An operator's forced refresh: always, ignoring our own cooldown (not a provider's).
    Forced,
    /// The scheduler: an expiring token, or one not refreshed since `idle_before`.
    Scheduled { idle_before: chrono::DateTime<Utc> },
}

/// What one refresh attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// New tokens were saved.
    Refreshed,
    /// Someone else refreshed (or re-authorized) first; the stored token is fresh.
    NotNeeded,
    /// The provider refused the grant; the connection is now `error`.
    Revoked(ProviderFailure),
    /// The provider could not answer; recorded as `refresh_error`.
    Transient(String),
    /// The provider asked to wait (`Retry-After`) or a recent failure is cooling down.
    CoolingDown(Duration),
    /// Nothing to refresh with (not active, no refresh token, no OAuth settings).
    Impossible(String),
}

#[derive(Debug, Clone, Copy)]
struct Cooldown {
    until: Instant,
    /// The provider itself asked for the wait: even forced refreshes respect it.
    demanded: bool,
}

pub struct Refresher {
    store: Store,
    provider: ProviderClient,
    settings: RefreshSettings,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    cooldowns: Mutex<HashMap<String, Cooldown>>,
}

impl Refresher {
    pub fn new(store: Store, provider: ProviderClient, settings: RefreshSettings) -> Self {
        Self { store, provider, settings, locks: Mutex::default(), cooldowns: Mutex::default() }
    }

    pub fn provider(&self) -> &ProviderClient {
        &self.provider
    }

    pub fn settings(&self) -> &RefreshSettings {
        &self.settings
    }

    /// True while a recent transient failure (or a provider's `Retry-After`) holds refreshes
    /// of connection `id` back.
    pub fn is_cooling_down(&self, id: &str) -> bool {
        self.cooling_down(id, false).is_some()
    }

    /// `GET /connections/:id`: the connection, refreshed first when due.
    pub async fn fresh_by_id(&self, id: String) -> StoreResult<Connection> {
        let connection = self.store.connection_by_id(id.clone()).await?;
        if !self.due_for_read(&connection) {
            return Ok(connection);
        }
        self.refresh(&connection.id, false).await?;
        self.store.connection_by_id(id).await
    }

    /// `GET /contexts/:id/connections/:slug`: the healthiest connection, refreshed first when
    /// due. A refresh that fails permanently can make another connection the healthiest; that
    /// one is returned as it is.
    pub async fn fresh_best(&self, external_id: String, connector_slug: String) -> StoreResult<Connection> {
        let connection = self.store.best_connection(external_id.clone(), connector_slug.clone()).await?;
        if !self.due_for_read(&connection) {
            return Ok(connection);
        }
        self.refresh(&connection.id, false).await?;
        self.store.best_connection(external_id, connector_slug).await
    }

    /// One refresh of connection `id`, single flight. `forced` refreshes even a token that is
    /// not due and ignores our own cooldown (not a provider's `Retry-After`).
    pub async fn refresh(&self, id: &str, forced: bool) -> StoreResult<RefreshOutcome> {
        self.refresh_for(id, if forced { Trigger::Forced } else { Trigger::Read }).await
    }

    /// One refresh of connection `id` for `trigger`, single flight.
    pub async fn refresh_for(&self, id: &str, trigger: Trigger) -> StoreResult<RefreshOutcome> {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(id.to_owned()).or_default().clone()
        };
        let outcome = {
            let _turn = lock.lock().await;
            self.refresh_locked(id, trigger).await
        };
        let mut locks = self.locks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // The map's reference and ours: nobody else waits for this connection.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(id);
        }
        outcome
    }

    async fn refresh_locked(&self, id: &str, trigger: Trigger) -> StoreResult<RefreshOutcome> {
        let forced = trigger == Trigger::Forced;
        // A claim outlives the token request's timeout, so it never ends under a refresh in flight.
        let claim_for = self.settings.timeout + CLAIM_SLACK;
        let give_up = Instant::now() + claim_for;
        loop {
            // Re-read under the lock: a reader that waited finds what the one before it saved.
            let state = self.store.refresh_state(id.to_owned()).await?;
            if !state.enabled || state.status != AuthorizationStatus::Active {
                return Ok(RefreshOutcome::Impossible(format!(
                    "connection {id:?} is not an enabled, active connection; it needs to be authorized again"
                )));
            }
            if !self.is_due(&state, trigger) {
                return Ok(RefreshOutcome::NotNeeded);
            }
            let RefreshState { refresh_token: Some(refresh_token), oauth: Some(oauth), expires_at, .. } = state else {
                let missing =
                    if state.oauth.is_none() { "its connector has no OAuth2 settings" } else { "no refresh token" };
                return Ok(RefreshOutcome::Impossible(format!("connection {id:?} cannot be refreshed: {missing}")));
            };
            if let Some(wait) = self.cooling_down(id, forced) {
                return Ok(RefreshOutcome::CoolingDown(wait));
            }
            // The same wait after a failure on another node (or before this one restarted).
            if let Some(wait) = state.retry_at.filter(|_| !forced).and_then(|at| (at - Utc::now()).to_std().ok()) {
                return Ok(RefreshOutcome::CoolingDown(wait));
            }
            let until = Utc::now() + chrono::Duration::from_std(claim_for).unwrap_or(chrono::Duration::MAX);
            if self.store.claim_refresh(id.to_owned(), refresh_token.clone(), expires_at, until).await? {
                return self.refresh_claimed(id, refresh_token, &oauth).await;
            }
            // Another process on this database is refreshing it, or just did: wait for its result
            // and look again (at most as long as a claim lasts, after which an abandoned one has
            // ended).
            if Instant::now() >= give_up {
                return Ok(RefreshOutcome::CoolingDown(CLAIM_POLL));
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
    }

    /// The token request and the saving of its result, once this process holds the claim.
    async fn refresh_claimed(
        &self,
        id: &str,
        refresh_token: secrecy::SecretString,
        oauth: &crate::server::store::ConnectorOAuth,
    ) -> StoreResult<RefreshOutcome> {
        match self.provider.refresh(oauth, &refresh_token).await {
            Ok(tokens) => {
                self.forget_cooldown(id);
                let rotated = tokens.refresh_token.is_some();
                match self.store.save_refreshed_tokens(id.to_owned(), refresh_token.clone(), tokens.clone()).await {
                    Ok(true) => {
                        tracing::info!(connection = id, rotated, "access token refreshed");
                        Ok(RefreshOutcome::Refreshed)
                    }
                    Ok(false) => {
                        tracing::info!(
                            connection = id,
                            "refresh result dropped: the connection was re-authorized meanwhile"
                        );
                        Ok(RefreshOutcome::NotNeeded)
                    }
                    Err(error @ (StoreError::Unavailable(_) | StoreError::Busy(_))) => {
                        // The provider may have rotated the refresh token, retiring the stored
                        // one: the tokens must outlive this request, which answers the error.
                        self.keep_saving(id, refresh_token, tokens);
                        Err(error)
                    }
                    Err(error) => Err(error),
                }
            }
            Err(TokenError::Permanent(failure)) => {
                self.forget_cooldown(id);
                let stored = self.store.fail_refresh(id.to_owned(), refresh_token, failure.clone()).await?;
                let (code, message) = (&failure.code, &failure.message);
                tracing::warn!(connection = id, %code, %message, stored, "refresh refused by the provider");
                Ok(if stored { RefreshOutcome::Revoked(failure) } else { RefreshOutcome::NotNeeded })
            }
            Err(TokenError::Transient { message, retry_after }) => {
                let demanded = retry_after.is_some();
                let wait = retry_after.map_or(self.settings.cooldown, |wait| wait.max(self.settings.cooldown));
                self.start_cooldown(id, wait, demanded);
                tracing::warn!(connection = id, %message, cooldown_secs = wait.as_secs(), "refresh failed, will retry");
                let retry_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                self.store.record_refresh_error(id.to_owned(), message.clone(), retry_at).await?;
                Ok(RefreshOutcome::Transient(message))
            }
        }
    }

    /// Saves a refresh's tokens in the background while the database cannot take them (down,
    /// restarting, a deadlock), for at most [`SAVE_RETRY_FOR`]: a rotated refresh token that
    /// were dropped would leave the connection with one its provider has retired. The save
    /// stays guarded by `used`, so a late one never overwrites a newer authorization.
    fn keep_saving(&self, id: &str, used: secrecy::SecretString, tokens: IssuedTokens) {
        let (store, id) = (self.store.clone(), id.to_owned());
        let saving = async move {
            let give_up = Instant::now() + SAVE_RETRY_FOR;
            let mut wait = SAVE_RETRY_FIRST_WAIT;
            loop {
                tokio::time::sleep(wait).await;
                match store.save_refreshed_tokens(id.clone(), used.clone(), tokens.clone()).await {
                    Ok(saved) => {
                        tracing::info!(connection = id, saved, "refreshed tokens saved once the database answered");
                        return;
                    }
                    Err(StoreError::Unavailable(_) | StoreError::Busy(_)) if Instant::now() < give_up => {
                        wait = (wait * 2).min(SAVE_RETRY_MAX_WAIT);
                    }
                    Err(error) => {
                        tracing::error!(connection = id, %error, "refreshed tokens lost: the database did not take them");
                        return;
                    }
                }
            }
        };
        // The events of the save are the same actor's as the refresh's.
        match actor::current() {
            Some(who) => tokio::spawn(actor::acting_as(who, saving)),
            None => tokio::spawn(saving),
        };
    }

    /// Cheap check on a connection already read: active, expiring, not cooling down.
    fn due_for_read(&self, connection: &Connection) -> bool {
        let Some(authorization) = &connection.authorization else { return false };
        connection.enabled
            && authorization.status == AuthorizationStatus::Active
            && authorization.expires_at.is_some_and(|at| self.expires_soon(at, authorization.last_refreshed_at))
            && self.cooling_down(&connection.id, false).is_none()
    }

    fn is_due(&self, state: &RefreshState, trigger: Trigger) -> bool {
        let expiring = state.expires_at.is_some_and(|at| self.expires_soon(at, state.last_refreshed_at));
        match trigger {
            Trigger::Forced => true,
            Trigger::Read => expiring,
            Trigger::Scheduled { idle_before } => {
                expiring || state.last_refreshed_at.or(state.updated_at).is_some_and(|at| at <= idle_before)
            }
        }
    }

    /// Expired, or expiring within the margin with at least half of its lifetime (since
    /// `issued`) gone: `store::refresh_schedule` finds the same tokens in SQL.
    fn expires_soon(&self, at: chrono::DateTime<Utc>, issued: Option<chrono::DateTime<Utc>>) -> bool {
        let now = Utc::now();
        let margin = chrono::Duration::from_std(self.settings.margin).unwrap_or(chrono::Duration::MAX);
        let within_margin = now.checked_add_signed(margin).is_none_or(|horizon| at <= horizon);
        within_margin && issued.is_none_or(|issued| at.timestamp() + issued.timestamp() <= 2 * now.timestamp())
    }

    fn cooling_down(&self, id: &str, forced: bool) -> Option<Duration> {
        let cooldowns = self.cooldowns.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let cooldown = cooldowns.get(id)?;
        let left = cooldown.until.checked_duration_since(Instant::now())?;
        (!forced || cooldown.demanded).then_some(left)
    }

    fn start_cooldown(&self, id: &str, wait: Duration, demanded: bool) {
        let mut cooldowns = self.cooldowns.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cooldowns.len() >= MAX_COOLDOWNS {
            let now = Instant::now();
            cooldowns.retain(|_, cooldown| cooldown.until > now);
        }
        cooldowns.insert(id.to_owned(), Cooldown { until: Instant::now() + wait, demanded });
    }

    fn forget_cooldown(&self, id: &str) {
        self.cooldowns.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(id);
    }
}
