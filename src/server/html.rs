//! The frame of the server's few HTML pages (catalog, sandbox). Pages are maud templates, which
//! escape every interpolated string; they carry no script, and the headers forbid any.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, html};

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
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body { (body) }
        }
    };
    let mut response = (status, axum::response::Html(markup.into_string())).into_response();
    let headers = response.headers_mut();
    // Links carry tokens: never cache the pages or leak their URL to another site.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; form-action *; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A page that only says what went wrong.
pub fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(status, title, html! { h1 { (title) } p { (text) } })
}

/// A timestamp as pages show it.
pub fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|at| at.format("%Y-%m-%d %H:%M:%S UTC").to_string()).unwrap_or_else(|| "—".to_owned())
}
