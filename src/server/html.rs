//! The frame of the server's few HTML pages (catalog, sandbox), and their one error type.
//! Pages are maud templates, which escape every interpolated string; they carry no script, and
//! the headers forbid any, except the connect popup's pages: each of those carries one fixed
//! script, which the headers allow by its hash and nothing else.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};
use sha2::Digest as _;

use super::store::StoreError;

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;\
color:#1d2330;line-height:1.5}h1{font-size:1.5rem}table{border-collapse:collapse;width:100%}\
td,th{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #dde}\
.status{font-weight:600}.active{color:#17803d}.error{color:#b42318}.pending{color:#a15c07}\
.muted{color:#667}.box{border:1px solid #dde;border-radius:.5rem;padding:1rem;margin:1rem 0}\
button{font:inherit;padding:.4rem .9rem;border-radius:.4rem;border:1px solid #456;background:#f4f6fb;cursor:pointer}\
button.primary{background:#1f4fd1;color:#fff;border-color:#1f4fd1}input[type=text]{font:inherit;padding:.3rem}\
code{background:#f2f3f7;padding:0 .25rem;border-radius:.2rem}";

/// A complete page answered with `status`.
pub fn page(status: StatusCode, title: &str, body: Markup) -> Response {
    page_with_policy(status, title, body, NO_SCRIPT_POLICY.to_owned())
}

/// A page running `script` (a fixed text: data reaches it through the page's attributes, which
/// are escaped), after `body`. The policy allows that script alone, by its SHA-256.
pub fn page_with_script(status: StatusCode, title: &str, body: Markup, script: &'static str) -> Response {
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()));
    let policy = format!("{NO_SCRIPT_POLICY}; script-src 'sha256-{hash}'");
    let body = html! { (body) script { (maud::PreEscaped(script)) } };
    page_with_policy(status, title, body, policy)
}

const NO_SCRIPT_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'";

fn page_with_policy(status: StatusCode, title: &str, body: Markup, policy: String) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="same-origin";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    };
    let mut response = (status, axum::response::Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    // Links carry tokens: never cache the pages or leak their URL to another site. `same-origin`
    // rather than `no-referrer`: under `no-referrer` browsers send `Origin: null` with the pages'
    // own form posts, which the cross-site check (`routes::same_origin`) must refuse.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    let policy = HeaderValue::try_from(policy).expect("a policy of fixed text and base64 is a valid header value");
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A page that only says what went wrong.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, title, html! { h1 { (title) } p { (text) } })
}

/// The one error type of the HTML routes: whatever fails, the browser gets a page saying so,
/// with a fitting status (never axum's plain text, never the API's JSON).
#[derive(Debug)]
pub struct HtmlError {
    status: StatusCode,
    title: String,
    text: String,
    /// What went wrong inside, for the log only, as for the API's errors: the detail (SQL,
    /// paths) goes to the log, not to the browser.
    cause: Option<anyhow::Error>,
}

impl HtmlError {
    pub fn new(status: StatusCode, title: impl Into<String>, text: impl Into<String>) -> Self {
        Self { status, title: title.into(), text: text.into(), cause: None }
    }

    /// A 500 page saying only `title` and `text`; `cause` is logged when the page is sent.
    pub fn internal(title: impl Into<String>, text: impl Into<String>, cause: anyhow::Error) -> Self {
        Self { cause: Some(cause), ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, title, text) }
    }
}

impl IntoResponse for HtmlError {
    /// The one place where an internal failure of an HTML route is logged.
    fn into_response(self) -> Response {
        if let Some(cause) = &self.cause {
            tracing::error!(status = self.status.as_u16(), error = format!("{cause:#}"), "{}", self.title);
        }
        message(self.status, &self.title, &self.text)
    }
}

impl From<StoreError> for HtmlError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound(text) => Self::new(StatusCode::NOT_FOUND, "Not found", text),
            StoreError::Conflict(text) => Self::new(StatusCode::CONFLICT, "Conflict", text),
            StoreError::Invalid(text) => Self::new(StatusCode::BAD_REQUEST, "Bad request", text),
            StoreError::Busy(text) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "Busy", text),
            error @ StoreError::Unavailable(_) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "Unavailable", format!("{error}. Try again in a moment."))
            }
            StoreError::Internal(error) => {
                Self::internal("Server error", "The server could not answer. Try again later.", error)
            }
        }
    }
}

/// axum's own rejections (duplicate or malformed query parameters, a form without the form
/// content type, a body over the limit, a missing field) keep their status and message.
macro_rules! page_from_rejection {
    ($($rejection:ty),* $(,)?) => {$(
        impl From<$rejection> for HtmlError {
            fn from(rejection: $rejection) -> Self {
                let status = rejection.status();
                Self::new(status, status.canonical_reason().unwrap_or("Bad request"), rejection.body_text())
            }
        }
    )*};
}

page_from_rejection!(
    axum::extract::rejection::FormRejection,
    axum::extract::rejection::PathRejection,
    axum::extract::rejection::QueryRejection,
);

/// A timestamp as pages show it.
pub fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "—".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::log_capture::captured;

    /// As for the API: an internal failure of a page is logged once, when the page is sent,
    /// and the browser sees no detail.
    #[test]
    fn an_internal_failure_is_logged_once_when_answered_and_never_shown() {
        let detail = "disk I/O error in /var/lib/platform.sqlite3";
        let (error, converting) = captured(|| HtmlError::from(StoreError::Internal(anyhow::anyhow!(detail))));
        assert!(converting.is_empty(), "converting logs nothing: {converting:?}");
        let (response, answering) = captured(|| error.into_response());
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answering.len(), 1, "{answering:?}");
        assert!(answering[0].contains("ERROR") && answering[0].contains(detail), "{answering:?}");
        let bytes = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(axum::body::to_bytes(response.into_body(), 64 * 1024))
            .unwrap();
        let page = String::from_utf8(bytes.to_vec()).unwrap();
        assert!(page.contains("The server could not answer") && !page.contains("disk I/O"), "{page}");
    }
}
