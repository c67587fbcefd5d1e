//! The server as an OAuth2 client of the connectors' providers: authorize URLs for the
//! catalog, code exchange and refresh at token endpoints (the `oauth2` crate), and the one
//! classification of token-endpoint failures into permanent and transient.
//!
//! A connector's URLs may be paths (`/sandbox/oauth/token`): they name this server itself, so
//! the bundled demo works on whatever port it runs. Server-side calls resolve them against the
//! server's own loopback address, browser redirects against its public URL.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse as _, TokenUrl,
};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::store::{ConnectorOAuth, IssuedTokens, ProviderFailure};

/// Lifetime assumed when a token response has no `expires_in`, so that a refresh is still
/// scheduled (Nango's fix for providers that omit it).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest `Retry-After` honoured; a provider cannot park a connection for days.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);
/// Token responses are small; anything bigger is not one.
const MAX_TOKEN_RESPONSE_BYTES: usize = 256 * 1024;
/// OAuth error codes that say "try again later" rather than "this grant is dead".
const TRANSIENT_OAUTH_ERRORS: [&str; 3] = ["temporarily_unavailable", "server_error", "slow_down"];

/// Why a token request did not produce tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The provider refused the grant (`invalid_grant`, `invalid_client`...): retrying the same
    /// request cannot succeed; the user must authorize again.
    Permanent(ProviderFailure),
    /// Network failure, timeout, 5xx, 429 or an unreadable answer: worth retrying later.
    Transient { message: String, retry_after: Option<Duration> },
}

/// Where the server reaches itself and where browsers reach it.
#[derive(Debug, Clone)]
pub struct ServerUrls {
    /// `http://127.0.0.1:PORT` (loopback even when listening on every interface).
    pub internal: Url,
    /// The base of links handed to browsers (`--public-url`, else the internal one).
    pub public: Url,
}

impl ServerUrls {
    /// A connector URL as this server calls it.
    pub fn for_server(&self, url: &str) -> Result<Url, String> {
        resolve(&self.internal, url)
    }

    /// A connector URL as a browser follows it.
    pub fn for_browser(&self, url: &str) -> Result<Url, String> {
        resolve(&self.public, url)
    }

    /// A path of this server (`catalog/...`, no leading slash) as a browser reaches it.
    pub fn public_path(&self, path: &str) -> Url {
        self.public.join(path).unwrap_or_else(|_| self.public.clone())
    }
}

/// A path is taken relative to the server's base, so a public URL with a path prefix keeps it.
fn resolve(base: &Url, url: &str) -> Result<Url, String> {
    if let Some(path) = url.strip_prefix('/') {
        base.join(path).map_err(|error| format!("cannot resolve {url:?}: {error}"))
    } else {
        Url::parse(url).map_err(|error| format!("{url:?} is not a URL: {error}"))
    }
}

/// An authorization request the catalog sends the browser to.
pub struct AuthorizationRequest {
    pub url: Url,
    pub pkce_verifier: SecretString,
}

/// Calls token endpoints with a bounded timeout and no redirects.
#[derive(Clone)]
pub struct ProviderClient {
    http: reqwest::Client,
    urls: Arc<ServerUrls>,
}

impl ProviderClient {
    /// `own_certificate`: the server's TLS certificate (PEM), trusted for the calls it makes
    /// to itself (a connector whose token URL is a path of this server, like the sandbox's).
    pub fn new(urls: Arc<ServerUrls>, timeout: Duration, own_certificate: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut http = reqwest::Client::builder();
        if let Some(pem) = own_certificate {
            http = http.add_root_certificate(reqwest::Certificate::from_pem(pem)?);
        }
        let http = http
            .timeout(timeout)
            .connect_timeout(timeout)
            // A token endpoint that redirects is misconfigured; following it could send the
            // client secret and refresh token somewhere else.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("xkit-dash/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, urls })
    }

    pub fn urls(&self) -> &ServerUrls {
        &self.urls
    }

    /// The provider's authorize URL for the catalog: our `state`, a fresh S256 PKCE challenge,
    /// the connector's scopes, and `prompt=consent` (providers such as Google and oidc-provider
    /// only issue a refresh token to a consented offline request; others ignore it).
    pub fn authorization_request(
        &self,
        oauth: &ConnectorOAuth,
        redirect_uri: &Url,
        state: &str,
    ) -> Result<AuthorizationRequest, String> {
        let client = BasicClient::new(ClientId::new(oauth.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(self.urls.for_browser(&oauth.authorize_url)?))
            .set_redirect_uri(RedirectUrl::from_url(redirect_uri.clone()));
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let state = state.to_owned();
        let (url, _) = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(oauth.scopes.iter().cloned().map(Scope::new))
            .set_pkce_challenge(challenge)
            .add_extra_param("prompt", "consent")
            .url();
        Ok(AuthorizationRequest { url, pkce_verifier: SecretString::from(verifier.secret().to_owned()) })
    }

    /// `grant_type=refresh_token`.
    pub async fn refresh(
        &self,
        oauth: &ConnectorOAuth,
        refresh_token: &SecretString,
    ) -> Result<IssuedTokens, TokenError> {
        let client = self.token_client(oauth)?;
        let token = RefreshToken::new(refresh_token.expose_secret().to_owned());
        let seen = Arc::new(Mutex::new(None));
        let http = self.recording_client(seen.clone());
        let result = client.exchange_refresh_token(&token).request_async(&http).await;
        finish(result, &seen)
    }

    /// `grant_type=authorization_code` with the flow's PKCE verifier and redirect URI.
    pub async fn exchange_code(
        &self,
        oauth: &ConnectorOAuth,
        code: &str,
        pkce_verifier: &SecretString,
        redirect_uri: &str,
    ) -> Result<IssuedTokens, TokenError> {
        let redirect =
            RedirectUrl::new(redirect_uri.to_owned()).map_err(|error| permanent_config(error.to_string()))?;
        let client = self.token_client(oauth)?.set_redirect_uri(redirect);
        let seen = Arc::new(Mutex::new(None));
        let http = self.recording_client(seen.clone());
        let result = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.expose_secret().to_owned()))
            .request_async(&http)
            .await;
        finish(result, &seen)
    }

    fn token_client(
        &self,
        oauth: &ConnectorOAuth,
    ) -> Result<
        BasicClient<
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        TokenError,
    > {
        let token_url = self.urls.for_server(&oauth.token_url).map_err(permanent_config)?;
        Ok(BasicClient::new(ClientId::new(oauth.client_id.clone()))
            .set_client_secret(ClientSecret::new(oauth.client_secret.expose_secret().to_owned()))
            .set_token_uri(TokenUrl::from_url(token_url)))
    }

    /// An HTTP client for the `oauth2` crate that also notes the answer's status and
    /// `Retry-After`, which the crate's error type does not keep.
    fn recording_client(
        &self,
        seen: Arc<Mutex<Option<Answer>>>,
    ) -> impl Fn(HttpRequest) -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, HttpFailure>> + Send>> {
        let http = self.http.clone();
        move |request: HttpRequest| {
            let http = http.clone();
            let seen = seen.clone();
            Box::pin(async move {
                let request = reqwest::Request::try_from(request)?;
                let mut response = http.execute(request).await?;
                let status = response.status();
                let retry_after = response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| parse_retry_after(value, Utc::now()));
                *seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Answer { status, retry_after });
                let mut builder = oauth2::http::Response::builder().status(status.as_u16());
                for (name, value) in response.headers() {
                    builder = builder.header(name.as_str(), value.as_bytes());
                }
                let mut body = Vec::new();
                while let Some(chunk) = response.chunk().await? {
                    if body.len() + chunk.len() > MAX_TOKEN_RESPONSE_BYTES {
                        return Err(HttpFailure::TooLarge);
                    }
                    body.extend_from_slice(&chunk);
                }
                builder.body(body).map_err(|error| HttpFailure::Malformed(error.to_string()))
            })
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Answer {
    status: StatusCode,
    retry_after: Option<Duration>,
}

#[derive(Debug, thiserror::Error)]
enum HttpFailure {
    #[error("{0}")]
    Network(String),
    #[error("the token response is larger than {MAX_TOKEN_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
}

impl From<reqwest::Error> for HttpFailure {
    fn from(error: reqwest::Error) -> Self {
        Self::Network(if error.is_timeout() {
            "the token endpoint did not answer in time".to_owned()
        } else if error.is_connect() {
            "cannot connect to the token endpoint".to_owned()
        } else {
            // Without the URL: it is configuration, and the message ends up in `refresh_error`.
            format!("token request failed: {}", error.without_url())
        })
    }
}

fn permanent_config(message: String) -> TokenError {
    TokenError::Permanent(ProviderFailure { code: "invalid_configuration".into(), message })
}

type Outcome = Result<
    oauth2::basic::BasicTokenResponse,
    RequestTokenError<HttpFailure, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
>;

fn finish(result: Outcome, seen: &Mutex<Option<Answer>>) -> Result<IssuedTokens, TokenError> {
    let answer = *seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    match result {
        Ok(token) => {
            let lifetime = token.expires_in().unwrap_or(DEFAULT_TOKEN_LIFETIME);
            Ok(IssuedTokens {
                access_token: SecretString::from(token.access_token().secret().to_owned()),
                refresh_token: token.refresh_token().map(|token| SecretString::from(token.secret().to_owned())),
                expires_at: expiry_from(Utc::now(), lifetime),
            })
        }
        Err(error) => Err(classify(error, answer)),
    }
}

/// `expires_in` counted on our clock from the moment the answer arrived.
fn expiry_from(now: DateTime<Utc>, lifetime: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(lifetime).ok().and_then(|lifetime| now.checked_add_signed(lifetime)).unwrap_or(now)
}

fn classify(
    error: RequestTokenError<HttpFailure, oauth2::StandardErrorResponse<BasicErrorResponseType>>,
    answer: Option<Answer>,
) -> TokenError {
    if let Some(Answer { status, retry_after }) = answer
        && (status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error())
    {
        let wait = retry_after.map(|wait| format!(" (Retry-After: {}s)", wait.as_secs())).unwrap_or_default();
        return TokenError::Transient { message: format!("token endpoint answered {status}{wait}"), retry_after };
    }
    let transient = |message: String| TokenError::Transient { message, retry_after: None };
    match error {
        RequestTokenError::ServerResponse(response) => {
            let code = response.error().as_ref().to_owned();
            let message = response.error_description().cloned().unwrap_or_else(|| code.clone());
            if TRANSIENT_OAUTH_ERRORS.contains(&code.as_str()) {
                transient(format!("token endpoint answered {code}: {message}"))
            } else {
                TokenError::Permanent(ProviderFailure { code, message })
            }
        }
        RequestTokenError::Request(failure) => transient(failure.to_string()),
        // A 200 that is not a token response, or a 4xx without an OAuth error body (a proxy's
        // page): nothing says the grant is dead, so it is not treated as if it were.
        RequestTokenError::Parse(..) | RequestTokenError::Other(_) => match answer {
            Some(Answer { status, .. }) => {
                transient(format!("token endpoint answered {status} with an unreadable body"))
            }
            None => transient("token endpoint gave no usable answer".to_owned()),
        },
    }
}

/// `Retry-After` as delta-seconds or an HTTP-date (RFC 9110 §10.2.3), capped.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
            (at - now).to_std().unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(code: &str, description: Option<&str>) -> oauth2::StandardErrorResponse<BasicErrorResponseType> {
        serde_json::from_value(serde_json::json!({"error": code, "error_description": description})).unwrap()
    }

    fn answer(status: u16, retry_after: Option<u64>) -> Option<Answer> {
        Some(Answer {
            status: StatusCode::from_u16(status).unwrap(),
            retry_after: retry_after.map(Duration::from_secs),
        })
    }

    #[test]
    fn retry_after_takes_seconds_or_dates_and_is_capped() {
        let now = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("Wed, 01 Jan 2025 00:01:30 GMT", now), Some(Duration::from_secs(90)));
        assert_eq!(parse_retry_after("Tue, 31 Dec 2024 23:00:00 GMT", now), Some(Duration::ZERO), "a past date");
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn invalid_grant_is_permanent_with_the_providers_words() {
        let error = classify(
            RequestTokenError::ServerResponse(server_error("invalid_grant", Some("grant request is invalid"))),
            answer(400, None),
        );
        assert_eq!(
            error,
            TokenError::Permanent(ProviderFailure {
                code: "invalid_grant".into(),
                message: "grant request is invalid".into()
            })
        );
        let error =
            classify(RequestTokenError::ServerResponse(server_error("invalid_client", None)), answer(401, None));
        assert!(
            matches!(error, TokenError::Permanent(ProviderFailure { ref message, .. }) if message == "invalid_client")
        );
    }

    #[test]
    fn rate_limits_outages_and_garbage_are_transient() {
        // A 429 or 503 is transient even when its body looks like a permanent OAuth error.
        let error =
            classify(RequestTokenError::ServerResponse(server_error("invalid_grant", None)), answer(429, Some(30)));
        assert_eq!(
            error,
            TokenError::Transient {
                message: "token endpoint answered 429 Too Many Requests (Retry-After: 30s)".into(),
                retry_after: Some(Duration::from_secs(30))
            }
        );
        assert!(matches!(
            classify(RequestTokenError::Other("x".into()), answer(503, None)),
            TokenError::Transient { .. }
        ));
        let error = classify(
            RequestTokenError::ServerResponse(server_error("temporarily_unavailable", None)),
            answer(400, None),
        );
        assert!(matches!(error, TokenError::Transient { .. }));
        assert!(matches!(
            classify(RequestTokenError::Other("empty".into()), answer(401, None)),
            TokenError::Transient { .. }
        ));
        assert!(matches!(
            classify(RequestTokenError::Request(HttpFailure::TooLarge), None),
            TokenError::Transient { .. }
        ));
    }

    #[test]
    fn expiry_counts_from_our_clock() {
        let now = Utc::now();
        assert_eq!(expiry_from(now, Duration::from_secs(60)), now + chrono::Duration::seconds(60));
    }

    #[test]
    fn relative_connector_urls_name_this_server() {
        let urls = ServerUrls {
            internal: Url::parse("http://127.0.0.1:4000").unwrap(),
            public: Url::parse("https://platform.example/base/").unwrap(),
        };
        assert_eq!(
            urls.for_server("/sandbox/oauth/token").unwrap().as_str(),
            "http://127.0.0.1:4000/sandbox/oauth/token"
        );
        assert_eq!(
            urls.for_browser("/sandbox/oauth/authorize").unwrap().as_str(),
            "https://platform.example/base/sandbox/oauth/authorize"
        );
        assert_eq!(urls.for_server("https://idp.example/token").unwrap().as_str(), "https://idp.example/token");
        assert!(urls.for_server("idp.example/token").is_err());
    }
}
