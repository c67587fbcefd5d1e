//! The connect popup of xkit.js (`connect()`, `addConnection()`, `reconnect()`): the two
//! loading pages it opens on this server, and the popup's sign-in, which lets the OAuth
//! callback in the popup finish a flow the page started through the client API.
//!
//! 1. `GET /authorizations/loading?opener_origin=<page origin>`: the page the popup opens on.
//!    It posts `'authWindow:ready'` to its opener, and only when the opener's origin is one the
//!    platform allows (its own, or one `xkit-dash origins add` listed): to no other origin.
//! 2. `GET /authorizations/:prototype/loading?opener_origin=...&token=<one-time token>`: spends
//!    the one-time token of `POST /sessions/ott` (single use, short-lived) and signs the popup
//!    in for that token's context with a first-party cookie, then posts `'authWindow:ready'`
//!    again. A spent, expired or unknown token gets a page that posts `{error}` to the opener
//!    instead (xkit.js reports it when the popup closes).
//!
//! Both pages also follow a `{location}` message from the opener (xkit.js's fallback where it
//! cannot navigate the popup itself, as in Electron). xkit.js then sends the popup to the
//! provider's `authorize_url`, and the provider back to the catalog's callback. The flow's own
//! cookie was set on the page's cross-site `fetch` answer, which browsers that refuse
//! third-party cookies drop; the popup's sign-in stands in for it: the callback accepts a flow
//! of the context the popup is signed in as (see [`signed_in_for_flow`]), stores the outcome
//! (pushed on the realtime socket once committed), and answers a page that closes the popup.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse as _, Response};
use axum::routing::get;
use maud::html;
use serde::Deserialize;

use super::limits::{FLOW_TTL, MAX_PARAM_CHARS};
use crate::server::cors::is_allowed_origin;
use crate::server::extract::{HtmlPath, HtmlQuery};
use crate::server::html::{self, HtmlError};
use crate::server::oauth::ServerUrls;
use crate::server::secret::secret_hash;
use crate::server::state::AppState;
use crate::server::store::StoreError;
use crate::server::validate;

/// The popup's sign-in cookie: a context token for the one-time token's context. `__Host-` on
/// https (see the flow cookies), the bare name on plain http.
const POPUP_COOKIE: &str = "xkit_popup";
const SECURE_POPUP_COOKIE: &str = "__Host-xkit_popup";
/// An origin is `scheme://host[:port]`; anything longer is not one.
const MAX_ORIGIN_CHARS: usize = 2048;

/// Posts `'authWindow:ready'` to the opener's origin (read from the page, where it is escaped),
/// and follows the opener's `{location}` messages to http(s) URLs.
const READY_SCRIPT: &str = "(function () {
  var origin = document.getElementById('popup').getAttribute('data-opener-origin');
  if (!window.opener) { return; }
  window.addEventListener('message', function (event) {
    var data = event.data;
    if (event.origin !== origin || !data || typeof data.location !== 'string') { return; }
    var target = new URL(data.location, window.location.href);
    if (target.protocol === 'https:' || target.protocol === 'http:') { window.location.replace(target.href); }
  });
  window.opener.postMessage('authWindow:ready', origin);
})();";

/// Posts `{error}` to the opener's origin; the page stays until the user closes it.
const ERROR_SCRIPT: &str = "(function () {
  var popup = document.getElementById('popup');
  if (window.opener) {
    window.opener.postMessage({ error: popup.getAttribute('data-error') }, popup.getAttribute('data-opener-origin'));
  }
})();";

/// Closes the popup once the callback has stored the outcome.
pub(super) const CLOSE_SCRIPT: &str = "window.close();";

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/authorizations/loading", get(loading))
        .route("/authorizations/{prototype}/loading", get(signed_in_loading))
}

#[derive(Deserialize)]
struct LoadingQuery {
    opener_origin: Option<String>,
    token: Option<String>,
}

/// `GET /authorizations/loading`: tells the opener the popup is ready.
async fn loading(
    State(state): State<AppState>,
    HtmlQuery(query): HtmlQuery<LoadingQuery>,
) -> Result<Response, HtmlError> {
    let opener = allowed_opener(&state, query.opener_origin.as_deref()).await?;
    Ok(loading_page(&opener))
}

/// `GET /authorizations/:prototype/loading`: signs the popup in with a one-time token.
async fn signed_in_loading(
    State(state): State<AppState>,
    HtmlPath(prototype): HtmlPath<String>,
    HtmlQuery(query): HtmlQuery<LoadingQuery>,
) -> Result<Response, HtmlError> {
    let opener = allowed_opener(&state, query.opener_origin.as_deref()).await?;
    state.store.connector(prototype).await.map_err(|error| match error {
        StoreError::NotFound(_) => {
            HtmlError::new(StatusCode::NOT_FOUND, "Unknown connector", "This platform has no such connector.")
        }
        error => error.into(),
    })?;
    let token = query.token.filter(|token| !token.is_empty() && token.len() <= MAX_PARAM_CHARS);
    let external_id = match token {
        Some(token) => state.store.take_one_time_token(secret_hash(&token)).await?,
        None => None,
    };
    let Some(external_id) = external_id else {
        tracing::warn!("connect popup refused: the one-time token is unknown, spent or expired");
        return Ok(refused_page(&opener));
    };
    let token = state.tokens.mint(&external_id).map_err(|error| {
        HtmlError::internal("Sign-in failed", "The server could not sign this window in. Try again.", error)
    })?;
    let cookie = popup_cookie(state.refresher.provider().urls(), &token);
    tracing::info!(context = %external_id, "connect popup signed in");
    Ok((AppendHeaders([(header::SET_COOKIE, cookie)]), loading_page(&opener)).into_response())
}

/// The opener's origin when the platform allows it (this server's own, or one in the list of
/// web origins); a page saying why not otherwise.
async fn allowed_opener(state: &AppState, opener_origin: Option<&str>) -> Result<String, HtmlError> {
    let refused = || {
        HtmlError::new(
            StatusCode::FORBIDDEN,
            "Unknown site",
            "This window was opened by a site this platform does not allow, so it cannot continue. \
             Close it and try again from the app.",
        )
    };
    let origin = opener_origin.filter(|origin| origin.len() <= MAX_ORIGIN_CHARS).ok_or_else(refused)?;
    // Exactly `scheme://host[:port]`, as `window.location.origin` gives it: no path, query,
    // user or trailing slash slips through.
    if validate::web_origin(origin).ok().as_deref() != Some(origin) {
        return Err(refused());
    }
    if !is_allowed_origin(state, origin).await? {
        tracing::warn!(
            opener_origin = %origin,
            "connect popup refused: the opener's origin is not allowed (allow it with: xkit-dash origins add {origin})"
        );
        return Err(refused());
    }
    Ok(origin.to_owned())
}

fn loading_page(opener: &str) -> Response {
    let body = html! {
        main #popup data-opener-origin=(opener) {
            h1 { "Connecting…" }
            p.muted { "This window continues in a moment." }
        }
    };
    html::page_with_script(StatusCode::OK, "Connecting", body, READY_SCRIPT)
}

fn refused_page(opener: &str) -> Response {
    let message = "This sign-in link is not valid, has expired, or was already used. Close this window and try again.";
    let body = html! {
        main #popup data-opener-origin=(opener) data-error=(message) {
            h1 { "Sign-in failed" }
            p { (message) }
        }
    };
    html::page_with_script(StatusCode::UNAUTHORIZED, "Sign-in failed", body, ERROR_SCRIPT)
}

/// The `Set-Cookie` value signing the popup in: HttpOnly, SameSite=Lax (sent when the
/// provider sends the popup back, a top-level GET), for as long as a flow lives.
fn popup_cookie(urls: &ServerUrls, token: &str) -> String {
    let max_age = FLOW_TTL.num_seconds();
    if urls.public.scheme() == "https" {
        format!("{SECURE_POPUP_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax; Secure")
    } else {
        let path = urls.public.path();
        format!("{POPUP_COOKIE}={token}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax")
    }
}

/// The context this browser's popup is signed in as, if any.
pub(super) fn signed_in_context(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let urls = state.refresher.provider().urls();
    let name = if urls.public.scheme() == "https" { SECURE_POPUP_COOKIE } else { POPUP_COOKIE };
    crate::server::cookies::pairs(headers)
        .filter(|(cookie, _)| *cookie == name)
        .find_map(|(_, token)| state.tokens.verify(token).ok())
        .map(|claims| claims.external_id)
}

/// Whether this browser's popup is signed in as the context whose flow `flow_state` is: the
/// popup's stand-in for the flow's own cookie.
pub(super) async fn signed_in_for_flow(
    state: &AppState,
    headers: &HeaderMap,
    flow_state: &str,
) -> Result<bool, HtmlError> {
    let Some(signed_in) = signed_in_context(state, headers) else {
        return Ok(false);
    };
    Ok(state.store.flow_context(flow_state.to_owned()).await?.is_some_and(|owner| owner == signed_in))
}
