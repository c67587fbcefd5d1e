//! Cross-site request forgery defence of the HTML routes: a state-changing request (any method
//! but GET, HEAD, OPTIONS, TRACE) must come from this server's own pages.
//!
//! Browsers name the origin of the page a form was posted from in `Origin` (every current
//! browser sends it with a POST, and a page cannot forge or remove it) and, failing that, in
//! `Referer`.
//! The origin must be the server's public URL's or its loopback address's; `Origin: null` (a
//! sandboxed frame, a `no-referrer` page) and a request naming no origin at all are refused, so
//! the defence fails closed. It is compared with the configured URLs, never with the request's
//! `Host`, which a DNS-rebinding page controls.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use url::Url;

use super::html::HtmlError;
use super::oauth::ServerUrls;
use super::state::AppState;

/// The middleware, layered on every HTML route.
pub async fn refuse_cross_site_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method().is_safe() {
        return next.run(request).await;
    }
    match check(request.headers(), state.refresher.provider().urls()) {
        Ok(()) => next.run(request).await,
        Err(reason) => {
            tracing::warn!(path = request.uri().path(), reason, "cross-site form post refused");
            HtmlError::new(StatusCode::FORBIDDEN, "Request refused", reason).into_response()
        }
    }
}

fn check(headers: &HeaderMap, urls: &ServerUrls) -> Result<(), &'static str> {
    let sender = match headers.get(header::ORIGIN) {
        Some(origin) => origin.to_str().ok().map(str::to_owned),
        None => headers
            .get(header::REFERER)
            .and_then(|referer| referer.to_str().ok())
            .and_then(|referer| Url::parse(referer).ok())
            .map(|referer| referer.origin().ascii_serialization()),
    };
    let Some(sender) = sender else {
        return Err("This form must be sent from this server's own page (the request names no Origin).");
    };
    let own = [&urls.public, &urls.internal].map(|url| url.origin().ascii_serialization());
    if own.contains(&sender) {
        Ok(())
    } else {
        Err("This form was sent from another site; only this server's own pages may send it.")
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn urls() -> ServerUrls {
        ServerUrls {
            internal: Url::parse("http://127.0.0.1:4000/").unwrap(),
            public: Url::parse("https://platform.example/base/").unwrap(),
        }
    }

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), HeaderValue::from_str(value).unwrap())).collect()
    }

    #[test]
    fn only_the_servers_own_origins_pass() {
        for allowed in [
            headers(&[(header::ORIGIN, "https://platform.example")]),
            headers(&[(header::ORIGIN, "http://127.0.0.1:4000")]),
            headers(&[(header::REFERER, "https://platform.example/base/connectors/slack?token=x")]),
        ] {
            assert_eq!(check(&allowed, &urls()), Ok(()), "{allowed:?}");
        }
        for refused in [
            headers(&[]),
            headers(&[(header::ORIGIN, "null")]),
            headers(&[(header::ORIGIN, "https://evil.example")]),
            headers(&[(header::ORIGIN, "http://platform.example")]),
            headers(&[(header::ORIGIN, "https://platform.example:8443")]),
            headers(&[(header::REFERER, "https://evil.example/https://platform.example/")]),
            // The Origin decides; a matching Referer does not rescue a foreign Origin.
            headers(&[(header::ORIGIN, "https://evil.example"), (header::REFERER, "https://platform.example/")]),
        ] {
            assert!(check(&refused, &urls()).is_err(), "{refused:?}");
        }
    }
}
