//! The sandbox OAuth2 provider, so that the demo's refresh and repair loops work offline.
//!
//! A small but genuine authorization server under `/sandbox/oauth/`: the authorization-code
//! grant (with optional S256 PKCE) through a consent page where any name can sign in, the
//! refresh-token grant with rotation on every use, RFC 7009 revocation, lifetimes per client,
//! and reuse detection (a used code or a consumed refresh token revokes its grant). Its state
//! lives in the platform's database (on PostgreSQL, shared by every node). Clients come from
//! seed files (`sandbox.clients`); without clients it answers `invalid_client` to everything.
//!
//! `/sandbox` lists the grants and revokes them, which is how a demo connection is broken on
//! purpose. Like the provider, it has no login: the sandbox only ever holds toy grants.

mod pages;

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use chrono::Utc;
use secrecy::{ExposeSecret as _, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

use super::auth::basic_credentials;
use super::error::ApiError;
use super::extract::{HtmlForm, HtmlPath, HtmlQuery};
use super::html::HtmlError;
use super::oauth::ServerUrls;
use super::secret::{random_token, secret_matches};
use super::state::AppState;
use super::store::{NewCode, SandboxClient, SandboxGrantView, SandboxIssued, SandboxRefusal};
use super::transport::MAX_BODY_BYTES;

/// Authorization codes are exchanged within seconds; ten minutes is RFC 6749's upper bound.
const CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Longest `subject` (the name typed on the consent page).
const MAX_SUBJECT_CHARS: usize = 200;
/// Grants the admin page shows.
const LISTED_GRANTS: usize = 500;

/// The pages a browser sees: the admin page and its Revoke buttons, the consent screen.
pub fn page_router() -> Router<AppState> {
    Router::new()
        .route("/sandbox", get(admin))
        .route("/sandbox/grants/{id}/revoke", post(revoke_grant))
        .route("/sandbox/oauth/authorize", get(authorize).post(decide))
}

/// The endpoints machines call: the token and revocation endpoints, the grant list as JSON.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/sandbox/grants", get(list_grants))
        .route("/sandbox/oauth/token", post(token))
        .route("/sandbox/oauth/revoke", post(revoke_token))
}

/// The parameters of an authorization request (query of the GET, hidden fields of the POST).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    code_challenge: Option<String>,
    #[serde(default)]
    code_challenge_method: Option<String>,
}

impl AuthorizeParams {
    /// The parameters as the consent form's hidden fields carry them to the decision.
    fn hidden_fields(&self) -> [(&'static str, Option<&str>); 7] {
        [
            ("response_type", Some(self.response_type.as_str())),
            ("client_id", Some(self.client_id.as_str())),
            ("redirect_uri", Some(self.redirect_uri.as_str())),
            ("scope", Some(self.scope.as_str())),
            ("state", self.state.as_deref()),
            ("code_challenge", self.code_challenge.as_deref()),
            ("code_challenge_method", self.code_challenge_method.as_deref()),
        ]
    }
}

/// The consent page's answer.
#[derive(Debug, Deserialize)]
struct Decision {
    #[serde(flatten)]
    params: AuthorizeParams,
    #[serde(default)]
    subject: String,
    decision: String,
}

/// What checking an authorization request gives: a client and redirect URI to answer to, or an
/// error to send to that redirect URI. When the client or the redirect URI cannot be trusted,
/// nothing may be sent to it: the check fails with an error page instead.
enum Checked {
    Valid(SandboxClient, Url),
    ErrorRedirect(Response),
}

async fn check(state: &AppState, params: &AuthorizeParams) -> Result<Checked, HtmlError> {
    let Some(client) = state.store.sandbox_client(params.client_id.clone()).await? else {
        return Err(HtmlError::new(
            StatusCode::BAD_REQUEST,
            "Unknown client",
            "This authorization request names a client the sandbox does not know.",
        ));
    };
    let Some(redirect) = registered_redirect(&client, &params.redirect_uri, state.refresher.provider().urls()) else {
        return Err(HtmlError::new(
            StatusCode::BAD_REQUEST,
            "Invalid redirect URI",
            "The redirect_uri of this request is not registered for the client.",
        ));
    };
    let refuse = |error: &str, description: &str| {
        Checked::ErrorRedirect(redirect_with(
            &redirect,
            &[("error", error), ("error_description", description)],
            params,
        ))
    };
    if params.response_type != "code" {
        return Ok(refuse("unsupported_response_type", "only response_type=code is supported"));
    }
    match (params.code_challenge.as_deref(), params.code_challenge_method.as_deref()) {
        (None, None) | (Some(_), Some("S256")) => {}
        (Some(_), None | Some(_)) => {
            return Ok(refuse("invalid_request", "only the S256 code_challenge_method is supported"));
        }
        (None, Some(_)) => return Ok(refuse("invalid_request", "code_challenge_method without code_challenge")),
    }
    Ok(Checked::Valid(client, redirect))
}

/// The request's `redirect_uri` if it is one of the client's registered URIs, compared as
/// whole strings (RFC 9700 §4.1.3: no scheme, host, port or path variation passes). A registered
/// path names this server: it stands for that path under the server's public URL (the demo runs
/// on whatever port), never under the `Host` the request claims.
fn registered_redirect(client: &SandboxClient, redirect_uri: &str, urls: &ServerUrls) -> Option<Url> {
    client
        .redirect_uris
        .iter()
        .filter_map(|registered| urls.for_browser(registered).ok())
        .find(|registered| registered.as_str() == redirect_uri && registered.fragment().is_none())
}

fn redirect_with(redirect: &Url, pairs: &[(&str, &str)], params: &AuthorizeParams) -> Response {
    let mut url = redirect.clone();
    {
        let mut query = url.query_pairs_mut();
        query.extend_pairs(pairs);
        if let Some(state) = &params.state {
            query.append_pair("state", state);
        }
    }
    Redirect::to(url.as_str()).into_response()
}

/// `GET /sandbox/oauth/authorize`: the consent page.
async fn authorize(
    State(state): State<AppState>,
    HtmlQuery(params): HtmlQuery<AuthorizeParams>,
) -> Result<Response, HtmlError> {
    Ok(match check(&state, &params).await? {
        Checked::Valid(client, _) => pages::consent(&client, &params.hidden_fields(), &params.scope),
        Checked::ErrorRedirect(response) => response,
    })
}

/// `POST /sandbox/oauth/authorize`: approve (a code goes back) or deny (`access_denied`).
async fn decide(State(state): State<AppState>, HtmlForm(decision): HtmlForm<Decision>) -> Result<Response, HtmlError> {
    let params = &decision.params;
    let (client, redirect) = match check(&state, params).await? {
        Checked::Valid(client, redirect) => (client, redirect),
        Checked::ErrorRedirect(response) => return Ok(response),
    };
    if decision.decision != "approve" {
        return Ok(redirect_with(
            &redirect,
            &[("error", "access_denied"), ("error_description", "The user denied the request.")],
            params,
        ));
    }
    let subject = decision.subject.trim();
    if subject.is_empty() || subject.chars().count() > MAX_SUBJECT_CHARS || subject.chars().any(char::is_control) {
        return Err(HtmlError::new(
            StatusCode::BAD_REQUEST,
            "Invalid name",
            "Sign in with a name of 1 to 200 printable characters.",
        ));
    }
    let code = SecretString::from(format!("sbx_code_{}", random_token(32)));
    state
        .store
        .sandbox_add_code(NewCode {
            code: code.clone(),
            client_id: client.client_id,
            subject: subject.to_owned(),
            scope: params.scope.clone(),
            redirect_uri: params.redirect_uri.clone(),
            code_challenge: params.code_challenge.clone(),
            expires_at: Utc::now() + CODE_TTL,
        })
        .await?;
    Ok(redirect_with(&redirect, &[("code", code.expose_secret())], params))
}

#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    #[serde(default)]
    grant_type: String,
    code: Option<String>,
    redirect_uri: Option<String>,
    code_verifier: Option<String>,
    refresh_token: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

#[derive(Serialize)]
struct TokenAnswer {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    refresh_token: String,
    scope: String,
}

/// An OAuth error answer of the token and revocation endpoints (RFC 6749 §5.2).
struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn invalid_request(description: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error: "invalid_request", description: description.into() }
    }

    fn invalid_client() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            error: "invalid_client",
            description: "client authentication failed".into(),
        }
    }
}

/// The body of a form the token and revocation endpoints could not read, in RFC 6749's shape.
impl From<FormRejection> for OAuthError {
    fn from(rejection: FormRejection) -> Self {
        let description = match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => format!("the request body is too large (at most {MAX_BODY_BYTES} bytes)"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "the body must be application/x-www-form-urlencoded".to_owned(),
            // A parameter given twice (RFC 6749 §3.2 forbids it) or not a form at all.
            _ => format!("unreadable form: {}", rejection.body_text()),
        };
        Self { status: rejection.status(), error: "invalid_request", description }
    }
}

/// `Form<T>` of the token and revocation endpoints: rejections answer as [`OAuthError`].
struct OAuthForm<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for OAuthForm<T> {
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Form(value) = Form::<T>::from_request(request, state).await?;
        Ok(Self(value))
    }
}

impl From<SandboxRefusal> for OAuthError {
    fn from(refusal: SandboxRefusal) -> Self {
        Self { status: StatusCode::BAD_REQUEST, error: refusal.error, description: refusal.description }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Basic realm=\"sandbox\""));
        }
        response
    }
}

/// Client authentication: HTTP Basic (form-urlencoded id and secret, RFC 6749 §2.3.1) or
/// `client_id`/`client_secret` in the body.
async fn authenticate(state: &AppState, headers: &HeaderMap, form: &TokenForm) -> Result<SandboxClient, OAuthError> {
    let (client_id, secret) = match basic_client(headers) {
        Some(credentials) => credentials,
        None => match (&form.client_id, &form.client_secret) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone()),
            _ => return Err(OAuthError::invalid_client()),
        },
    };
    let client = state.store.sandbox_client(client_id).await.map_err(|_| OAuthError::invalid_client())?;
    match client {
        Some(client) if secret_matches(&client.secret_sha256, &secret) => Ok(client),
        _ => Err(OAuthError::invalid_client()),
    }
}

/// HTTP Basic client credentials, each form-urlencoded as RFC 6749 §2.3.1 asks.
fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let (id, secret) = basic_credentials(headers)?;
    let decode =
        |text: &str| url::form_urlencoded::parse(format!("x={text}").as_bytes()).next().map(|(_, v)| v.into_owned());
    Some((decode(&id)?, decode(&secret)?))
}

/// `POST /sandbox/oauth/token`.
async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<TokenForm>,
) -> Result<Response, ApiError> {
    let client = match authenticate(&state, &headers, &form).await {
        Ok(client) => client,
        Err(error) => return Ok(error.into_response()),
    };
    let refresh_token = SecretString::from(format!("sbx_rt_{}", random_token(32)));
    let issued = match form.grant_type.as_str() {
        "authorization_code" => {
            let Some(code) = form.code else {
                return Ok(OAuthError::invalid_request("code is required").into_response());
            };
            state
                .store
                .sandbox_exchange_code(
                    client.client_id,
                    SecretString::from(code),
                    form.redirect_uri,
                    form.code_verifier,
                    refresh_token.clone(),
                )
                .await?
        }
        "refresh_token" => {
            let Some(presented) = form.refresh_token else {
                return Ok(OAuthError::invalid_request("refresh_token is required").into_response());
            };
            state.store.sandbox_refresh(client.client_id, SecretString::from(presented), refresh_token.clone()).await?
        }
        _ => {
            let error = OAuthError {
                status: StatusCode::BAD_REQUEST,
                error: "unsupported_grant_type",
                description: "grant_type must be authorization_code or refresh_token".into(),
            };
            return Ok(error.into_response());
        }
    };
    Ok(match issued {
        Ok(SandboxIssued { grant_id, scope, access_ttl_secs }) => {
            tracing::info!(grant_id, grant_type = %form.grant_type, "sandbox issued tokens");
            let answer = TokenAnswer {
                access_token: format!("sbx_at_{}", random_token(32)),
                token_type: "Bearer",
                expires_in: access_ttl_secs,
                refresh_token: refresh_token.expose_secret().to_owned(),
                scope,
            };
            ([(header::CACHE_CONTROL, "no-store"), (header::PRAGMA, "no-cache")], Json(answer)).into_response()
        }
        Err(refusal) => OAuthError::from(refusal).into_response(),
    })
}

#[derive(Debug, Default, Deserialize)]
struct RevokeForm {
    #[serde(default)]
    token: String,
    client_id: Option<String>,
    client_secret: Option<String>,
}

/// `POST /sandbox/oauth/revoke` (RFC 7009): revoking a refresh token revokes its grant. Unknown
/// tokens are answered 200 as well, as the RFC asks.
async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    OAuthForm(form): OAuthForm<RevokeForm>,
) -> Result<Response, ApiError> {
    let credentials =
        TokenForm { client_id: form.client_id, client_secret: form.client_secret, ..TokenForm::default() };
    let client = match authenticate(&state, &headers, &credentials).await {
        Ok(client) => client,
        Err(error) => return Ok(error.into_response()),
    };
    if form.token.is_empty() {
        return Ok(OAuthError::invalid_request("token is required").into_response());
    }
    let revoked = state.store.sandbox_revoke_token(client.client_id, SecretString::from(form.token)).await?;
    tracing::info!(revoked, "sandbox revocation request");
    Ok(StatusCode::OK.into_response())
}

#[derive(Serialize)]
struct GrantList {
    grants: Vec<SandboxGrantView>,
}

/// `GET /sandbox/grants`: the admin list as JSON (no token material).
async fn list_grants(State(state): State<AppState>) -> Result<Json<GrantList>, ApiError> {
    Ok(Json(GrantList { grants: state.store.sandbox_grants(LISTED_GRANTS).await? }))
}

/// `GET /sandbox`: the admin page.
async fn admin(State(state): State<AppState>) -> Result<Response, HtmlError> {
    Ok(pages::grants(&state.store.sandbox_grants(LISTED_GRANTS).await?))
}

/// `POST /sandbox/grants/:id/revoke`: the grant's refresh tokens stop working; back to the list.
async fn revoke_grant(State(state): State<AppState>, HtmlPath(id): HtmlPath<i64>) -> Result<Response, HtmlError> {
    if !state.store.sandbox_revoke_grant(id).await? {
        return Err(HtmlError::new(
            StatusCode::NOT_FOUND,
            "Unknown grant",
            format!("There is no sandbox grant {id} to revoke (unknown or already revoked)."),
        ));
    }
    tracing::info!(grant_id = id, "sandbox grant revoked on the admin page");
    Ok(Redirect::to("/sandbox").into_response())
}
