use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::model::ApiErrorBody;

/// Why a Platform API call failed. Messages never contain a secret.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The configuration cannot make a request (bad URL, bad TLS setup).
    #[error("configuration error: {0}")]
    Config(String),
    /// The server could not be reached or did not answer in time.
    #[error("cannot reach the server: {0}")]
    Unreachable(String),
    /// 401: the keys were refused.
    #[error("the server refused the API keys: {0}")]
    Unauthorized(String),
    /// 404: the resource (or the route, for an extension) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// 429 or a 5xx: worth retrying later.
    #[error("server busy or failing ({status}): {message}")]
    Transient { status: u16, message: String, retry_after: Option<Duration> },
    /// Any other error status, with the server's `{"error": ...}` message.
    #[error("server error {status}: {message}")]
    Api { status: u16, message: String },
    /// The server answered something that is not the documented shape, or redirected away.
    #[error("invalid response: {0}")]
    InvalidResponse(String),
    /// A listing went past a budget (pages, rows): a runaway or hostile server. The message
    /// names the server and how to raise the limit.
    #[error("{0}")]
    LimitReached(String),
}

/// Why the redirect policy stopped a request (see `same_origin_redirects`).
#[derive(Debug, thiserror::Error)]
#[error("the server redirected to {0}; refusing to send keys there")]
pub(super) struct CrossOriginRedirect(pub url::Url);

#[derive(Debug, thiserror::Error)]
#[error("more than {0} redirects")]
pub(super) struct TooManyRedirects(pub usize);

impl ClientError {
    pub(super) fn from_transport(error: reqwest::Error) -> Self {
        if error.is_redirect() {
            // The policy's own reason says more than reqwest's "error following redirect".
            let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
            while let Some(current) = cause {
                if current.is::<CrossOriginRedirect>() || current.is::<TooManyRedirects>() {
                    return ClientError::InvalidResponse(current.to_string());
                }
                cause = current.source();
            }
        }
        // reqwest's Display includes the URL, never the Basic credentials.
        let detail = if error.is_timeout() { "request timed out".to_owned() } else { error.to_string() };
        ClientError::Unreachable(detail)
    }

    pub(super) fn from_status(status: StatusCode, body: &[u8], retry_after: Option<Duration>) -> Self {
        let message = serde_json::from_slice::<ApiErrorBody>(body)
            .map(|body| body.error)
            .unwrap_or_else(|_| status.canonical_reason().unwrap_or("unexpected status").to_owned());
        match status {
            StatusCode::UNAUTHORIZED => ClientError::Unauthorized(message),
            StatusCode::NOT_FOUND => ClientError::NotFound(message),
            StatusCode::TOO_MANY_REQUESTS
            | StatusCode::BAD_GATEWAY
            | StatusCode::SERVICE_UNAVAILABLE
            | StatusCode::GATEWAY_TIMEOUT => ClientError::Transient { status: status.as_u16(), message, retry_after },
            _ => ClientError::Api { status: status.as_u16(), message },
        }
    }

    /// True when the same request may succeed if sent again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, ClientError::Unreachable(_) | ClientError::Transient { .. })
    }

    /// The server's `Retry-After`, when it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Transient { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// True when the target itself is unusable (down or refusing the keys), as opposed to one
    /// request failing: the CLI maps this to exit code 2.
    pub fn is_target_failure(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable(_)
                | ClientError::Unauthorized(_)
                | ClientError::Config(_)
                | ClientError::InvalidResponse(_)
                | ClientError::LimitReached(_)
        )
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (date.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_messages() {
        let error = ClientError::from_status(StatusCode::NOT_FOUND, br#"{"error":"context not found"}"#, None);
        assert!(matches!(error, ClientError::NotFound(ref message) if message == "context not found"));
        let garbage = ClientError::from_status(StatusCode::INTERNAL_SERVER_ERROR, b"<html>oops", None);
        assert!(matches!(garbage, ClientError::Api { status: 500, ref message } if message == "Internal Server Error"));
    }

    #[test]
    fn retry_after_accepts_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        headers.insert(RETRY_AFTER, later.parse().unwrap());
        let parsed = parse_retry_after(&headers).unwrap();
        assert!(parsed > Duration::from_secs(25) && parsed <= Duration::from_secs(30), "{parsed:?}");
    }
}
