//! Typed client for the Xkit Platform API (`/api/platform`, HTTP Basic `publishable:secret`).
//!
//! The client only knows the wire (`crate::model`); it never imports the bundled server.
//! Every remote failure becomes a [`ClientError`] variant that callers can match on: the
//! dashboard turns them into pane states, the CLI into exit codes.

mod error;
mod ndjson;
mod pages;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

pub use crate::model::{ConnectionFilter, ContextOrder, ContextQuery};
pub use error::ClientError;
pub use pages::CursorPage;

use crate::model::{
    Connection, ConnectionEnvelope, ConnectionsPage, ConnectorsPage, Context, ContextEnvelope, ContextsPage,
    CreateContextRequest, CreateContextResponse, EventsPage, EventsQuery, Health, Platform, PlatformEnvelope,
    PlatformStats, RepairLink, StatsHistory,
};

/// The largest response body the client accepts; a broken server cannot exhaust memory.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Attempts for idempotent requests that fail transiently (connect errors, 502/503/504, 429).
const MAX_ATTEMPTS: u32 = 3;
/// The longest `Retry-After` the client is willing to sleep through before giving up.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// The media type of the bulk listing's stream.
const NDJSON: &str = "application/x-ndjson";
/// The longest a whole stream may take (a stall is bounded by the request timeout).
const MAX_STREAM_DURATION: Duration = Duration::from_secs(24 * 3600);
/// Same-origin redirects followed for one request before giving up.
const MAX_REDIRECTS: usize = 5;

/// The answer to [`Client::export_connections`].
pub enum ConnectionListing<S> {
    /// The whole listing, streamed in batches.
    Stream(S),
    /// The server pages: its first page.
    FirstPage(ConnectionsPage),
}

/// Where to send requests, and with which keys.
#[derive(Clone)]
pub struct ApiTarget {
    /// The server root (`https://app.xkit.co`) or the Platform API base
    /// (`https://app.xkit.co/api/platform`); both are accepted.
    pub api_url: String,
    pub publishable_key: String,
    pub secret_key: SecretString,
}

impl std::fmt::Debug for ApiTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiTarget")
            .field("api_url", &self.api_url)
            .field("publishable_key", &self.publishable_key)
            .field("secret_key", &"[redacted]")
            .finish()
    }
}

/// Options that tune the HTTP behaviour, not the target.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self { connect_timeout: Duration::from_secs(5), request_timeout: Duration::from_secs(20) }
    }
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    publishable_key: String,
    secret_key: SecretString,
    /// How long an answer may take; for a stream, how long it may stall (a long-poll adds its wait).
    request_timeout: Duration,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

impl Client {
    pub fn new(target: &ApiTarget, options: &ClientOptions) -> Result<Self, ClientError> {
        let base = platform_base(&target.api_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .redirect(same_origin_redirects())
            .user_agent(concat!("xkit-dash/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| ClientError::Config(error.to_string()))?;
        Ok(Self {
            http,
            base,
            publishable_key: target.publishable_key.clone(),
            secret_key: target.secret_key.clone(),
            request_timeout: options.request_timeout,
        })
    }

    /// The normalized Platform API base, ending in `/api/platform`.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The server root, without the `/api/platform` suffix (where the catalog lives on a
    /// bundled server).
    pub fn server_root(&self) -> Url {
        let mut root = self.base.clone();
        root.set_path(self.base.path().trim_end_matches("/api/platform"));
        root
    }

    /// Every page of a listing of this server, in order: `fetch` is called with `None` for the
    /// first page and then with each `next_cursor`, until a page has none. A cursor the server
    /// already handed out (which would loop forever) ends the stream with
    /// [`ClientError::InvalidResponse`], a runaway number of pages with
    /// [`ClientError::LimitReached`], both naming the server; any fetch error also ends it.
    ///
    /// ```ignore
    /// let pages = client.pages(|cursor| async move { client.list_connectors(cursor.as_deref(), None).await });
    /// ```
    pub fn pages<P, F, Fut>(&self, fetch: F) -> impl futures::Stream<Item = Result<P, ClientError>> + use<P, F, Fut>
    where
        P: CursorPage,
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = Result<P, ClientError>>,
    {
        pages::pages_up_to(self.base_url().to_string(), pages::MAX_PAGES, fetch)
    }

    /// `GET /api/platform_user/platform` (public, no keys): the platform's name and slug, from
    /// which Xkit's hosted catalog URL derives.
    pub async fn platform(&self) -> Result<Platform, ClientError> {
        let mut url = self.server_root();
        url.path_segments_mut()
            .map_err(|()| ClientError::Config("API URL cannot be a base".into()))?
            .pop_if_empty()
            .extend(["api", "platform_user", "platform"]);
        let response = self.http.get(url).send().await.map_err(ClientError::from_transport)?;
        let status = response.status();
        let bytes = read_capped_body(response).await?;
        if !status.is_success() {
            return Err(ClientError::from_status(status, &bytes, None));
        }
        let envelope: PlatformEnvelope = serde_json::from_slice(&bytes)
            .map_err(|error| ClientError::InvalidResponse(format!("unexpected platform response: {error}")))?;
        Ok(envelope.platform)
    }

    /// `POST /context`: create or update a context and mint its context token.
    pub async fn create_context(&self, context: &Context) -> Result<CreateContextResponse, ClientError> {
        let body = CreateContextRequest { context: context.clone() };
        self.send(Method::POST, &["context"], &[], Some(&body)).await
    }

    /// `GET /contexts` (extension): one page of contexts, optionally searched.
    pub async fn list_contexts(
        &self,
        search: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ContextsPage, ClientError> {
        let mut query = page_query(cursor, limit);
        if let Some(search) = search.filter(|search| !search.is_empty()) {
            query.push(("search", search.to_owned()));
        }
        self.send(Method::GET, &["contexts"], &query, None::<&()>).await
    }

    /// `GET /contexts` (extension) filtered and sorted by the server: one page, continued by
    /// `cursor` in the same query's sort and order.
    pub async fn query_contexts(
        &self,
        query: &ContextQuery,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ContextsPage, ClientError> {
        let mut params = page_query(cursor, limit);
        if let Some(health) = query.health {
            params.push(("status", health.word().replace(' ', "_")));
        }
        if let Some(connector) = &query.connector {
            params.push(("connector", connector.clone()));
        }
        if let Some(search) = query.search.as_deref().filter(|search| !search.is_empty()) {
            params.push(("search", search.to_owned()));
        }
        if query.sort != ContextOrder::ExternalId {
            params.push(("sort", query.sort.name().to_owned()));
        }
        if query.descending {
            params.push(("order", "desc".to_owned()));
        }
        self.send(Method::GET, &["contexts"], &params, None::<&()>).await
    }

    /// `GET /stats` (extension): the platform's totals per health and per connector, from the
    /// server's counters. A server without it answers [`ClientError::NotFound`].
    pub async fn stats(&self) -> Result<PlatformStats, ClientError> {
        self.send(Method::GET, &["stats"], &[], None::<&()>).await
    }

    /// `GET /contexts?status=` (extension on servers with `/stats`): one page of the contexts
    /// whose most severe connection has `health` (`NotInstalled`: contexts without any).
    pub async fn list_contexts_of_health(
        &self,
        health: Health,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ContextsPage, ClientError> {
        let mut query = page_query(cursor, limit);
        query.push(("status", health.word().replace(' ', "_")));
        self.send(Method::GET, &["contexts"], &query, None::<&()>).await
    }

    /// `GET /contexts/:external_id` (extension).
    pub async fn get_context(&self, external_id: &str) -> Result<Context, ClientError> {
        let envelope: ContextEnvelope = self.send(Method::GET, &["contexts", external_id], &[], None::<&()>).await?;
        Ok(envelope.context)
    }

    /// `GET /connectors` (extension): one page of connectors.
    pub async fn list_connectors(
        &self,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ConnectorsPage, ClientError> {
        self.send(Method::GET, &["connectors"], &page_query(cursor, limit), None::<&()>).await
    }

    /// `GET /contexts/:external_id/connections`: a context's connections, without credentials.
    pub async fn context_connections(
        &self,
        external_id: &str,
        cursor: Option<&str>,
    ) -> Result<ConnectionsPage, ClientError> {
        let query = page_query(cursor, None);
        self.send(Method::GET, &["contexts", external_id, "connections"], &query, None::<&()>).await
    }

    /// `GET /connections` (extension): every connection across contexts, one page at a time.
    ///
    /// A server without the extension answers [`ClientError::NotFound`]; callers then fall back
    /// to [`Client::context_connections`] per context.
    pub async fn list_connections(
        &self,
        filter: &ConnectionFilter,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<ConnectionsPage, ClientError> {
        let query = connection_query(filter, cursor, limit);
        self.send(Method::GET, &["connections"], &query, None::<&()>).await
    }

    /// `GET /connections` asking for one NDJSON stream (extension): every connection `filter`
    /// selects, `batch` at a time, in the listing's order. A server that does not stream
    /// answers the first page (of `batch`) instead: continue it with
    /// [`Client::list_connections`]. A stream is not capped as a whole: the caller budgets its
    /// rows, and a stall of the request timeout ends it with an error.
    pub async fn export_connections(
        &self,
        filter: &ConnectionFilter,
        batch: u32,
    ) -> Result<ConnectionListing<impl futures::Stream<Item = Result<Vec<Connection>, ClientError>> + use<>>, ClientError>
    {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::Config("API URL cannot be a base".into()))?
            .push("connections");
        let query = connection_query(filter, None, Some(batch));
        url.query_pairs_mut().extend_pairs(query.iter().map(|(key, value)| (*key, value.as_str())));
        let request = self
            .http
            .get(url)
            .basic_auth(&self.publishable_key, Some(self.secret_key.expose_secret()))
            .header(reqwest::header::ACCEPT, format!("{NDJSON}, application/json;q=0.5"))
            // The whole stream may take longer than one answer; stalls are bounded per read.
            .timeout(MAX_STREAM_DURATION);
        let response = tokio::time::timeout(self.request_timeout, request.send())
            .await
            .map_err(|_| ClientError::Unreachable("request timed out".into()))?
            .map_err(ClientError::from_transport)?;
        let streamed = response.status().is_success()
            && response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .is_some_and(|value| value.trim_start().to_ascii_lowercase().starts_with(NDJSON));
        if streamed {
            Ok(ConnectionListing::Stream(ndjson::batches(response, batch as usize, self.request_timeout)))
        } else {
            Ok(ConnectionListing::FirstPage(decode(response).await?))
        }
    }

    /// `GET /contexts/:external_id/connections/:connector_slug`: the healthiest connection,
    /// with its credential when active (the server refreshes it on read).
    pub async fn get_connection(
        &self,
        external_id: &str,
        connector_slug: &str,
    ) -> Result<ConnectionEnvelope, ClientError> {
        self.send(Method::GET, &["contexts", external_id, "connections", connector_slug], &[], None::<&()>).await
    }

    /// `GET /connections/:connection_id`.
    pub async fn get_connection_by_id(&self, connection_id: &str) -> Result<ConnectionEnvelope, ClientError> {
        self.send(Method::GET, &["connections", connection_id], &[], None::<&()>).await
    }

    /// `POST /connections/:connection_id/refresh` (extension): force a token refresh.
    pub async fn refresh_connection(&self, connection_id: &str) -> Result<ConnectionEnvelope, ClientError> {
        self.send(Method::POST, &["connections", connection_id, "refresh"], &[], None::<&()>).await
    }

    /// `POST /contexts/:external_id/connections/:slug/repair_link` (extension): a ready-to-send
    /// catalog URL that lets the context repair that connection.
    pub async fn repair_link(&self, external_id: &str, connector_slug: &str) -> Result<RepairLink, ClientError> {
        let path = ["contexts", external_id, "connections", connector_slug, "repair_link"];
        self.send(Method::POST, &path, &[], None::<&()>).await
    }

    /// `GET /events` (extension): the events after the cursor `after` (from the oldest kept
    /// without one), oldest first. With `wait`, the server holds the request until a newer
    /// event exists or the wait ends; keep it under the request timeout.
    pub async fn list_events(
        &self,
        filter: &EventsQuery,
        after: Option<&str>,
        wait: Option<Duration>,
        limit: Option<u32>,
    ) -> Result<EventsPage, ClientError> {
        let mut query = page_query(None, limit);
        let fields = [
            ("after", after.map(str::to_owned)),
            ("type", filter.event_type.clone()),
            ("context", filter.context.clone()),
            ("connector", filter.connector.clone()),
            ("connection", filter.connection.clone()),
            ("since", filter.since.map(|since| since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))),
            ("wait", wait.map(|wait| format!("{}ms", wait.as_millis()))),
        ];
        query.extend(fields.into_iter().filter_map(|(key, value)| Some((key, value?))));
        // A long-poll is held for `wait`: the request may take that long on top of the usual.
        let timeout = wait.map(|wait| self.request_timeout + wait);
        self.send_timed(Method::GET, &["events"], &query, None::<&()>, timeout).await
    }

    /// `GET /stats/history` (extension): errors, recoveries, refreshes and transient failures per
    /// bucket (`bucket` long, from `since` ago), for the platform and per connector.
    pub async fn stats_history(&self, since: Duration, bucket: Duration) -> Result<StatsHistory, ClientError> {
        let query = [("since", format!("{}s", since.as_secs())), ("bucket", format!("{}s", bucket.as_secs()))];
        self.send(Method::GET, &["stats", "history"], &query, None::<&()>).await
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
    ) -> Result<T, ClientError> {
        self.send_timed(method, segments, query, body, None).await
    }

    /// [`Client::send`] with a request timeout other than the client's.
    async fn send_timed<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&impl Serialize>,
        timeout: Option<Duration>,
    ) -> Result<T, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut().map_err(|()| ClientError::Config("API URL cannot be a base".into()))?.extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter().map(|(key, value)| (*key, value.as_str())));
        }
        // Only reads are retried: a POST that timed out may have been applied.
        let attempts = if method == Method::GET { MAX_ATTEMPTS } else { 1 };
        let mut attempt = 1;
        loop {
            match self.send_once(method.clone(), url.clone(), body, timeout).await {
                Err(error) if attempt < attempts && error.is_transient() => {
                    let delay = error.retry_after().unwrap_or(Duration::from_millis(200 * 2u64.pow(attempt)));
                    if delay > MAX_RETRY_AFTER {
                        return Err(error);
                    }
                    tracing::debug!(%method, path = url.path(), attempt, ?delay, "retrying after transient error");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    async fn send_once<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        body: Option<&impl Serialize>,
        timeout: Option<Duration>,
    ) -> Result<T, ClientError> {
        let mut request = self
            .http
            .request(method, url)
            .basic_auth(&self.publishable_key, Some(self.secret_key.expose_secret()))
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(timeout) = timeout {
            request = request.timeout(timeout);
        }
        let response = request.send().await.map_err(ClientError::from_transport)?;
        decode(response).await
    }
}

/// A JSON answer: its body (capped) parsed into `T`, or the error its status and body say.
async fn decode<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ClientError> {
    let status = response.status();
    let retry_after = error::parse_retry_after(response.headers());
    let bytes = read_capped_body(response).await?;
    if !status.is_success() {
        return Err(ClientError::from_status(status, &bytes, retry_after));
    }
    let body: &[u8] = match (status, bytes.is_empty()) {
        (StatusCode::NO_CONTENT, _) | (_, true) => b"{}",
        _ => &bytes,
    };
    // Parsed straight into `T` (not through a `serde_json::Value`, which doubled the cost
    // of a 100,000-connection scan); the probe only keeps an `error` member, if any.
    match serde_json::from_slice::<ErrorProbe>(body) {
        // xkit.js treats a 2xx whose body carries a non-null `error` as a failure too.
        Ok(ErrorProbe { error: Some(message) }) if !message.is_null() => {
            let message = message.as_str().map(str::to_owned).unwrap_or_else(|| message.to_string());
            return Err(ClientError::Api { status: status.as_u16(), message });
        }
        Err(error) if error.is_syntax() || error.is_eof() => {
            return Err(ClientError::InvalidResponse(format!("response is not JSON: {error}")));
        }
        // No error member, or JSON that is not an object: the shape check below decides.
        _ => {}
    }
    serde_json::from_slice(body)
        .map_err(|error| ClientError::InvalidResponse(format!("unexpected response shape: {error}")))
}

/// Every response body goes through here: streamed, and refused once it passes
/// [`MAX_BODY_BYTES`], whatever its `Content-Length` claims (a lie either way costs nothing).
async fn read_capped_body(mut response: reqwest::Response) -> Result<Vec<u8>, ClientError> {
    let too_large = |url: &Url| {
        ClientError::InvalidResponse(format!(
            "the answer to {} is larger than {} MiB; stopped reading",
            url.path(),
            MAX_BODY_BYTES / (1024 * 1024)
        ))
    };
    if response.content_length().is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large(response.url()));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ClientError::from_transport)? {
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large(response.url()));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Follows redirects only within the origin (scheme, host and port) of the first request: the
/// Basic credentials ride on every request and must never reach another server.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let origin = attempt.previous().first().map(Url::origin);
        if origin.as_ref() != Some(&attempt.url().origin()) {
            let mut elsewhere = attempt.url().clone();
            elsewhere.set_query(None);
            elsewhere.set_fragment(None);
            attempt.error(error::CrossOriginRedirect(elsewhere))
        } else if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(error::TooManyRedirects(MAX_REDIRECTS))
        } else {
            attempt.follow()
        }
    })
}

/// The `error` member of a response body; every other member is skipped without allocating.
#[derive(serde::Deserialize)]
struct ErrorProbe {
    #[serde(default)]
    error: Option<serde_json::Value>,
}

/// The bulk listing's query: its filters, and the page's cursor and size.
fn connection_query(
    filter: &ConnectionFilter,
    cursor: Option<&str>,
    limit: Option<u32>,
) -> Vec<(&'static str, String)> {
    let mut query = page_query(cursor, limit);
    if let Some(health) = filter.health {
        query.push(("status", health.word().replace(' ', "_")));
    }
    if let Some(connector) = &filter.connector {
        query.push(("connector", connector.clone()));
    }
    if let Some(context) = &filter.context {
        query.push(("context", context.clone()));
    }
    if let Some(within) = filter.expiring_within {
        query.push(("expiring_within", format!("{}s", within.as_secs())));
    }
    query
}

fn page_query(cursor: Option<&str>, limit: Option<u32>) -> Vec<(&'static str, String)> {
    let mut query = Vec::new();
    if let Some(cursor) = cursor {
        query.push(("cursor", cursor.to_owned()));
    }
    if let Some(limit) = limit {
        query.push(("limit", limit.to_string()));
    }
    query
}

/// Normalizes a configured URL to the Platform API base (`.../api/platform`).
pub fn platform_base(api_url: &str) -> Result<Url, ClientError> {
    let mut url = Url::parse(api_url.trim())
        .map_err(|error| ClientError::Config(format!("invalid API URL {api_url:?}: {error}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::Config(format!("API URL {api_url:?} must start with http:// or https://")));
    }
    if url.cannot_be_a_base() || url.host_str().is_none() {
        return Err(ClientError::Config(format!("API URL {api_url:?} has no host")));
    }
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.ends_with("/api/platform") { path } else { format!("{path}/api/platform") };
    url.set_path(&path);
    url.set_query(None);
    url.set_fragment(None);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_platform_base_urls_normalize_alike() {
        for input in ["http://127.0.0.1:8080", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/api/platform/"] {
            assert_eq!(platform_base(input).unwrap().as_str(), "http://127.0.0.1:8080/api/platform", "{input}");
        }
        assert_eq!(
            platform_base("https://x.example/prefix").unwrap().as_str(),
            "https://x.example/prefix/api/platform"
        );
    }

    #[test]
    fn non_http_urls_are_refused() {
        assert!(platform_base("file:///etc/passwd").is_err());
        assert!(platform_base("not a url").is_err());
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        let target = ApiTarget {
            api_url: "http://127.0.0.1:1".into(),
            publishable_key: "pk".into(),
            secret_key: SecretString::from("sk"),
        };
        let client = Client::new(&target, &ClientOptions::default()).unwrap();
        let mut url = client.base_url().clone();
        url.path_segments_mut().unwrap().extend(["contexts", "a/b c", "connections"]);
        assert_eq!(url.path(), "/api/platform/contexts/a%2Fb%20c/connections");
        assert_eq!(client.server_root().as_str(), "http://127.0.0.1:1/");
        assert!(!format!("{target:?}").contains("sk\""), "Debug must not show the secret");
    }
}
