//! The session cookie xkit.js's `login()` gets from `POST /api/platform_user/sessions`: it holds
//! a context token, so one verification serves the cookie and the Bearer header alike. Read by
//! the context-token extractor, `POST /sessions/token` and the catalog pages.
//!
//! The cookie is set from a credentialed cross-origin `fetch`, so over https (the public URL's
//! scheme, a TLS proxy included) it is `Secure; SameSite=None`, always `HttpOnly` (no script
//! reads it) and `Path=/`. Over plain http browsers refuse `SameSite=None` without `Secure`: it
//! is then `SameSite=Lax`, enough for the catalog pages of the same server.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};

use super::oauth::ServerUrls;

const NAME: &str = "xkit_session";

/// `Set-Cookie` value of a session holding `token` until `expires_at`.
pub fn set(urls: &ServerUrls, token: &str, expires_at: DateTime<Utc>) -> String {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    format!("{NAME}={token}; Max-Age={max_age}; {}", attributes(urls))
}

/// `Set-Cookie` value that ends the session in this browser.
pub fn clear(urls: &ServerUrls) -> String {
    format!("{NAME}=; Max-Age=0; {}", attributes(urls))
}

fn attributes(urls: &ServerUrls) -> &'static str {
    if urls.public.scheme() == "https" {
        "Path=/; HttpOnly; Secure; SameSite=None"
    } else {
        "Path=/; HttpOnly; SameSite=Lax"
    }
}

/// The session's context token, if the request carries the cookie.
pub fn token(headers: &HeaderMap) -> Option<&str> {
    crate::server::cookies::pairs(headers)
        .find(|(name, value)| *name == NAME && !value.is_empty())
        .map(|(_, value)| value)
}
