//! How webhooks are delivered: the server's settings.

use std::time::Duration;

/// How webhooks are delivered.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSettings {
    /// Disable an endpoint whose every delivery failed for this long.
    pub disable_after: Duration,
    /// Allow loopback and private targets (also implied by listening on loopback).
    pub allow_private: bool,
    /// One request's limit, connection included.
    pub request_timeout: Duration,
    /// The wait after a first failure; each further failure doubles it, up to `max_retry`.
    pub first_retry: Duration,
    pub max_retry: Duration,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            disable_after: Duration::from_secs(24 * 3600),
            allow_private: false,
            request_timeout: Duration::from_secs(10),
            first_retry: Duration::from_secs(1),
            max_retry: Duration::from_secs(3600),
        }
    }
}
