//! The catalog's connector pages, in the spirit of Xkit's hosted catalog: where a context's
//! user installs a connection or repairs a broken one.
//!
//! A link names the context with a token: a context token (JWT, reusable until it expires) or a
//! repair token minted by `repair_link` (short-lived, single use: it starts one authorization).
//! `GET /connectors/:slug?token=...` shows the context's connections to that connector with
//! Install / Reconnect buttons; the button posts to `/connectors/:slug/authorize`, which puts
//! the connection in `awaiting_callback` with a fresh `state` bound to it and sends the browser
//! to the provider (authorization code with PKCE). The provider sends it back to
//! `/catalog/oauth/callback`: the connection goes `retrieving_tokens`, then `active` with the
//! new tokens, or `error` with the provider's `error` (for example `access_denied`). Reconnect
//! re-authorizes the same connection id.
//!
//! Without a token in the link, the page and the Install / Reconnect buttons take the context
//! from the session cookie that xkit.js's `login()` set (its `connectorUrl(slug)` links carry no
//! token); a visitor with neither is sent to the platform's `login_redirect_url` when it has one.
//!
//! The flow is bound to the browser that started it: the `state` is the SHA-256 of a random
//! secret that only that browser holds, in an HttpOnly cookie; a callback whose browser cannot
//! show the secret is refused before anything changes. So a consent completed in another
//! browser (a link forwarded, an attacker's flow pushed on a victim) never lands.

mod limits;
mod pages;
mod popup;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{AppendHeaders, IntoResponse as _, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use serde::Deserialize;

use super::extract::{HtmlForm, HtmlPath, HtmlQuery};
use super::html::HtmlError;
use super::oauth::{ServerUrls, TokenError};
use super::repair_link::REPAIR_TOKEN_PREFIX;
use super::secret::{random_token, secret_hash, secret_matches};
use super::session_cookie;
use super::state::AppState;
use super::store::{ConnectorOAuth, NewFlow, PageRequest, ProviderFailure, StoreError};
use crate::model::{Connection, ConnectionFilter};
use limits::{FLOW_TTL, MAX_PARAM_CHARS};

/// Connections one page lists (a context rarely has more than a few per connector).
const LISTED_CONNECTIONS: usize = 100;
/// Bound on the provider's `error_description` kept in `error_message`.
const MAX_ERROR_MESSAGE_CHARS: usize = 1000;
/// The cookies holding flows' browser secrets are named by this prefix and the start of the
/// flow's state, so that flows started in several tabs of one browser keep their own. The
/// prefix is `__Host-` (Secure, Path=/, no Domain: no other host or plain-http page can set or
/// shadow the cookie) when the public URL is https; browsers refuse that prefix and `Secure` on
/// plain http, so a loopback or LAN server uses the bare one.
const FLOW_COOKIE_PREFIX: &str = "xkit_flow_";
const SECURE_FLOW_COOKIE_PREFIX: &str = "__Host-xkit_flow_";
/// Characters of the state in its cookie's name (the name only keeps flows apart; the value binds).
const FLOW_COOKIE_TAG_CHARS: usize = 12;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/connectors/{slug}", get(connector_page))
        .route("/connectors/{slug}/authorize", post(start_authorization))
        .route("/catalog/oauth/callback", get(callback))
        .merge(popup::router())
}

/// Who a link speaks for.
struct Visitor {
    external_id: String,
    /// The repair token's hash, to spend it when an authorization starts.
    repair_token: Option<[u8; 32]>,
}

/// Checks a link's token for `slug`.
async fn identify(state: &AppState, token: Option<&str>, slug: &str) -> Result<Visitor, HtmlError> {
    let Some(token) = token.filter(|token| !token.is_empty() && token.len() <= MAX_PARAM_CHARS) else {
        return Err(link_needed());
    };
    if token.starts_with(REPAIR_TOKEN_PREFIX) {
        let hash = secret_hash(token);
        return match state.store.repair_grant(hash).await? {
            None => Err(HtmlError::new(StatusCode::UNAUTHORIZED, "Invalid link", "This repair link is not valid.")),
            Some(grant) if grant.used => Err(link_used()),
            Some(grant) if grant.expires_at <= Utc::now() => Err(HtmlError::new(
                StatusCode::GONE,
                "Link expired",
                "This repair link has expired. Ask the app for a new one.",
            )),
            Some(grant) if grant.connector_slug != slug => Err(HtmlError::new(
                StatusCode::FORBIDDEN,
                "Wrong connector",
                "This repair link is for another connector.",
            )),
            Some(grant) => Ok(Visitor { external_id: grant.external_id, repair_token: Some(hash) }),
        };
    }
    match state.tokens.verify(token) {
        Ok(claims) => Ok(Visitor { external_id: claims.external_id, repair_token: None }),
        Err(_) => Err(HtmlError::new(
            StatusCode::UNAUTHORIZED,
            "Invalid link",
            "This link is not valid or has expired. Ask the app for a new one.",
        )),
    }
}

fn link_needed() -> HtmlError {
    HtmlError::new(
        StatusCode::UNAUTHORIZED,
        "Link needed",
        "Open this page from the link the app gave you: it tells the catalog whose connection to show.",
    )
}

fn link_used() -> HtmlError {
    HtmlError::new(
        StatusCode::GONE,
        "Link already used",
        "This repair link has already been used. Ask the app for a new one.",
    )
}

#[derive(Deserialize)]
struct LinkQuery {
    token: Option<String>,
}

/// `GET /connectors/:slug`: the connector and the visitor's connections to it.
async fn connector_page(
    State(state): State<AppState>,
    HtmlPath(slug): HtmlPath<String>,
    HtmlQuery(query): HtmlQuery<LinkQuery>,
    headers: HeaderMap,
) -> Result<Response, HtmlError> {
    let connector = match state.store.connector(slug.clone()).await {
        Ok(connector) => connector,
        Err(StoreError::NotFound(_)) => {
            return Err(HtmlError::new(
                StatusCode::NOT_FOUND,
                "Unknown connector",
                "This platform has no such connector.",
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let link_token = query.token.filter(|token| !token.is_empty());
    let Some(token) = link_token.as_deref().or_else(|| session_cookie::token(&headers)) else {
        // Not logged in: the platform's login page, which brings the user back logged in.
        if let Some(login) = state.store.platform().await?.login_redirect_url.filter(|url| !url.is_empty()) {
            return Ok(Redirect::to(&login).into_response());
        }
        return Err(link_needed());
    };
    let visitor = identify(&state, Some(token), &slug).await?;
    let connections = connections_of(&state, &visitor.external_id, &slug).await?;
    let can_authorize = state.store.connector_oauth(slug).await?.is_some();
    // A session's token stays in its cookie: the buttons post none and the cookie goes along.
    let form_token = link_token.unwrap_or_default();
    Ok(pages::connector(&connector, &visitor.external_id, &connections, can_authorize, &form_token))
}

async fn connections_of(state: &AppState, external_id: &str, slug: &str) -> Result<Vec<Connection>, HtmlError> {
    let filter = ConnectionFilter {
        connector: Some(slug.to_owned()),
        context: Some(external_id.to_owned()),
        ..Default::default()
    };
    let page = state.store.list_connections(filter, PageRequest { limit: LISTED_CONNECTIONS, cursor: None }).await?;
    Ok(page.items.into_iter().filter(|connection| connection.enabled).collect())
}

#[derive(Deserialize)]
struct AuthorizeForm {
    #[serde(default)]
    token: String,
    /// The connection to re-authorize; absent to install a new one.
    #[serde(default)]
    connection_id: Option<String>,
}

/// `POST /connectors/:slug/authorize`: Install or Reconnect.
async fn start_authorization(
    State(state): State<AppState>,
    HtmlPath(slug): HtmlPath<String>,
    headers: HeaderMap,
    HtmlForm(form): HtmlForm<AuthorizeForm>,
) -> Result<Response, HtmlError> {
    let token = Some(form.token.as_str()).filter(|token| !token.is_empty()).or_else(|| session_cookie::token(&headers));
    let visitor = identify(&state, token, &slug).await?;
    let Some(oauth) = state.store.connector_oauth(slug.clone()).await? else {
        return Err(HtmlError::new(
            StatusCode::CONFLICT,
            "Not available",
            "This connector cannot be authorized from the catalog: it has no OAuth2 settings.",
        ));
    };
    let PreparedFlow { flow, flow_cookie } = match prepare_flow(&state, &oauth) {
        Ok(prepared) => prepared,
        Err(problem) => {
            let cause = anyhow::anyhow!("the OAuth settings of connector {slug:?} are unusable: {problem}");
            return Err(HtmlError::internal("Misconfigured connector", problem, cause));
        }
    };
    let authorize_url = flow.authorize_url.clone();
    let connection_id = form.connection_id.filter(|id| !id.is_empty());
    // The link is spent in the same transaction, after every check: a refused request
    // (someone else's connection) leaves it usable.
    let begun = state
        .store
        .begin_authorization(visitor.external_id.clone(), slug.clone(), connection_id, flow, visitor.repair_token)
        .await;
    let id = match begun {
        Ok(id) => id,
        Err(StoreError::NotFound(message)) => {
            return Err(HtmlError::new(StatusCode::NOT_FOUND, "Unknown connection", message));
        }
        Err(StoreError::Conflict(_)) => return Err(link_used()),
        Err(error) => return Err(error.into()),
    };
    tracing::info!(connection = %id, context = %visitor.external_id, %slug, "catalog authorization started");
    Ok((AppendHeaders([(header::SET_COOKIE, flow_cookie)]), Redirect::to(&authorize_url)).into_response())
}

/// An authorization-code flow ready to be stored and followed: the flow (state, PKCE verifier,
/// the provider URL to send the browser to) and the `Set-Cookie` value that binds it to the
/// browser which will come back to the callback.
pub struct PreparedFlow {
    pub flow: NewFlow,
    pub flow_cookie: String,
}

/// Prepares a flow with `oauth`, for the catalog's buttons and xkit.js's `POST /connections`
/// alike. Fails only when the connector's OAuth settings cannot make an authorize URL.
pub fn prepare_flow(state: &AppState, oauth: &ConnectorOAuth) -> Result<PreparedFlow, String> {
    let urls = state.refresher.provider().urls();
    let browser_secret = random_token(32);
    let flow_state = URL_SAFE_NO_PAD.encode(secret_hash(&browser_secret));
    let redirect_uri = urls.public_path("catalog/oauth/callback");
    let request = state.refresher.provider().authorization_request(oauth, &redirect_uri, &flow_state)?;
    let flow_cookie = flow_cookie(urls, &flow_state, &browser_secret);
    let flow = NewFlow {
        state: flow_state,
        pkce_verifier: request.pkce_verifier,
        redirect_uri: redirect_uri.into(),
        authorize_url: request.url.to_string(),
        expires_at: Utc::now() + FLOW_TTL,
    };
    Ok(PreparedFlow { flow, flow_cookie })
}

/// The `Set-Cookie` value handing a flow's browser secret to the browser that starts it:
/// HttpOnly (no script reads it), SameSite=Lax (sent when the provider redirects the browser
/// back, a top-level GET, but not with another site's subrequests), as long as the flow lives.
fn flow_cookie(urls: &ServerUrls, flow_state: &str, browser_secret: &str) -> String {
    let name = flow_cookie_name(urls, flow_state);
    let max_age = FLOW_TTL.num_seconds();
    if urls.public.scheme() == "https" {
        format!("{name}={browser_secret}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax; Secure")
    } else {
        let path = urls.public.path();
        format!("{name}={browser_secret}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax")
    }
}

/// The name of the cookie of the flow of `flow_state`.
fn flow_cookie_name(urls: &ServerUrls, flow_state: &str) -> String {
    let prefix = if urls.public.scheme() == "https" { SECURE_FLOW_COOKIE_PREFIX } else { FLOW_COOKIE_PREFIX };
    // Issued states are 43 base64url characters; a shorter (forged) one names no cookie we set.
    let tag = flow_state.get(..FLOW_COOKIE_TAG_CHARS).unwrap_or(flow_state);
    format!("{prefix}{tag}")
}

/// Whether this browser started the flow of `flow_state`: its cookie holds a secret whose hash
/// is the state.
fn started_in_this_browser(headers: &HeaderMap, urls: &ServerUrls, flow_state: &str) -> bool {
    let name = flow_cookie_name(urls, flow_state);
    let Some(hash) = URL_SAFE_NO_PAD.decode(flow_state).ok().and_then(|bytes| <[u8; 32]>::try_from(bytes).ok()) else {
        return false;
    };
    crate::server::cookies::pairs(headers).any(|(cookie, secret)| cookie == name && secret_matches(&hash, secret))
}

#[derive(Deserialize)]
struct CallbackQuery {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /catalog/oauth/callback`: where providers send the browser back.
async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    HtmlQuery(query): HtmlQuery<CallbackQuery>,
) -> Result<Response, HtmlError> {
    let flow_state = query.state.filter(|value| !value.is_empty() && value.len() <= MAX_PARAM_CHARS);
    if let Some(flow_state) = &flow_state
        && !started_in_this_browser(&headers, state.refresher.provider().urls(), flow_state)
        && !popup::signed_in_for_flow(&state, &headers, flow_state).await?
    {
        tracing::warn!("catalog callback refused: the flow was not started in this browser");
        return Err(HtmlError::new(
            StatusCode::FORBIDDEN,
            "Started in another browser",
            "This authorization was not started in this browser, or it has expired, so it cannot finish here. \
             Open the catalog link again in the browser you sign in with, and start again.",
        ));
    }
    let flow = match &flow_state {
        Some(flow_state) => state.store.take_flow(flow_state.clone()).await?,
        None => None,
    };
    let (Some(flow), Some(flow_state)) = (flow, flow_state) else {
        return Err(HtmlError::new(
            StatusCode::BAD_REQUEST,
            "Unknown authorization",
            "This answer does not match an authorization in progress (unknown or already used state). \
             Start again from the catalog page.",
        ));
    };
    let failure = |code: &str, message: &str| ProviderFailure {
        code: code.chars().take(100).collect(),
        message: message.chars().take(MAX_ERROR_MESSAGE_CHARS).collect(),
    };
    let result = if flow.expires_at <= Utc::now() {
        Err(failure("authorization_timeout", "The authorization took too long; start again from the catalog."))
    } else if let Some(error) = query.error.as_deref().filter(|error| !error.is_empty()) {
        Err(failure(error, query.error_description.as_deref().unwrap_or(error)))
    } else if let (Some(code), Some(oauth)) = (query.code.filter(|code| code.len() <= MAX_PARAM_CHARS), &flow.oauth) {
        state.refresher.provider().exchange_code(oauth, &code, &flow.pkce_verifier, &flow.redirect_uri).await.map_err(
            |error| match error {
                TokenError::Permanent(failure) => failure,
                TokenError::Transient { message, .. } => failure("temporarily_unavailable", &message),
            },
        )
    } else if flow.oauth.is_none() {
        Err(failure("invalid_configuration", "The connector no longer has OAuth2 settings."))
    } else {
        Err(failure("invalid_request", "The provider sent neither a code nor an error."))
    };
    let id = flow.connection_id.clone();
    // xkit.js's popup is closed once the outcome is stored (and so announced to the socket).
    let in_popup = popup::signed_in_context(&state, &headers).is_some_and(|context| context == flow.external_id);
    match result {
        Ok(tokens) => {
            let landed = state.store.complete_authorization(id.clone(), flow_state, tokens).await?;
            tracing::info!(connection = %id, landed, "catalog authorization completed");
            Ok(pages::outcome(&flow, None, in_popup))
        }
        Err(failure) => {
            state.store.fail_authorization(id.clone(), flow_state, failure.clone()).await?;
            tracing::warn!(connection = %id, code = %failure.code, "catalog authorization failed");
            Ok(pages::outcome(&flow, Some(&failure), in_popup))
        }
    }
}
