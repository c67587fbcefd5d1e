//! Accepting connections and serving HTTP/1.1 on them, so that clients which open connections
//! and never use them cannot starve the ones that do (issue 9: 300 stalled connections under
//! `nofile=256` used to make every real request fail with "Too many open files").
//!
//! - A request's header must arrive within `header_timeout` of the server being ready for it
//!   (the connection opened, or the previous answer was sent): a silent connection, or one
//!   sending half a header, is closed then (hyper's header read timer).
//! - Its body must arrive whole within `body_timeout`, else 408 and the connection is closed.
//! - A connection on which no byte moves either way for `idle_timeout` is closed, whatever it
//!   is doing (a client that stops reading an answer).
//! - At most `max_connections` are open, a cap kept below the process's open-files limit. At
//!   the cap, a new connection takes the place of the oldest one that has never sent a
//!   complete request header (a stalled client), so stalled connections cannot lock real
//!   clients out; when every open connection has served or is serving a request, the new one
//!   gets a fast 503 and is closed (kept-alive connections leave by the header timeout).
//! - Accept errors (out of file descriptors) back off instead of spinning.
//! - A connection upgraded to a WebSocket keeps its place under the cap for as long as the
//!   socket lives (the place goes with the stream), and learns through [`ServerStop`] when the
//!   server stops; the socket keeps its own idle rule.

use std::collections::BTreeMap;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use super::error::ApiError;

/// The largest request body accepted (a context with generous custom attributes fits easily).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// File descriptors kept for everything but client connections: the database (a writer and its
/// readers, each with WAL and shared memory), the listener, the runtime, logs, and outgoing
/// requests to OAuth providers.
const RESERVED_FDS: usize = 64;
/// Connections admitted past the cap while the ones they displaced are closing.
const EVICTION_SLACK: usize = 32;
/// How long accepting waits for displaced connections to close before refusing.
const DISPLACEMENT_WAIT: Duration = Duration::from_secs(1);
/// Accept errors are retried after a pause that doubles up to this.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
const MIN_ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Timeouts and the connection cap of `serve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Serves `app` on `listener` until `stop` is cancelled, then lets open requests finish; over
/// TLS when given an acceptor. `limits.max_connections` must fit the open files limit: see
/// [`connection_cap`].
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    tls: Option<TlsAcceptor>,
    stop: CancellationToken,
) {
    let slots = Arc::new(Slots::new(limits.max_connections));
    // Every connection task holds a receiver; the sender sees them all gone once they end.
    let (all_closed, open_connection) = watch::channel(());
    let mut backoff = MIN_ACCEPT_BACKOFF;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = MIN_ACCEPT_BACKOFF;
                stream
            }
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of file descriptors (or memory): the cap should prevent it, but other
                // files count too. Pause so that closing connections can free some.
                tracing::error!(%error, pause = ?backoff, "cannot accept a connection");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = stop.cancelled() => break,
                }
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                continue;
            }
        };
        match slots.admit().await {
            Some(slot) => {
                let (app, stop, open, tls) = (app.clone(), stop.clone(), open_connection.clone(), tls.clone());
                tokio::spawn(async move {
                    serve_connection(stream, tls, app, limits, slot, stop).await;
                    drop(open);
                });
            }
            // Answered here and now, so that refused connections never pile up open.
            None => refuse(stream),
        }
    }
    drop(listener);
    drop(open_connection);
    all_closed.closed().await;
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// One connection: the TLS handshake if any, which must end within the header timeout (a
/// connection that has not finished it has sent no request: it can be displaced), then HTTP.
async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnectionLimits,
    slot: Arc<Slot>,
    stop: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let watched = Watched { inner: stream, activity: activity.clone(), _place: slot.clone() };
    let Some(acceptor) = tls else {
        return serve_http(watched, activity, app, limits, slot, stop).await;
    };
    let handshake = tokio::select! {
        handshake = tokio::time::timeout(limits.header_timeout, acceptor.accept(watched)) => handshake,
        () = slot.displaced.cancelled() => return,
        () = stop.cancelled() => return,
    };
    match handshake {
        Ok(Ok(stream)) => serve_http(stream, activity, app, limits, slot, stop).await,
        Ok(Err(error)) => tracing::debug!(%error, "TLS handshake failed"),
        Err(_) => {
            tracing::debug!("closing a connection whose TLS handshake did not end in {:?}", limits.header_timeout)
        }
    }
}

/// HTTP/1.1 on one connection with the header timeout, closed early when idle, when displaced
/// by a newer connection, and gracefully when the server stops.
async fn serve_http<S>(
    stream: S,
    activity: Arc<Activity>,
    app: Router,
    limits: ConnectionLimits,
    slot: Arc<Slot>,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(stream);
    let proven = slot.clone();
    let server_stop = ServerStop(stop.clone());
    let service = TowerToHyperService::new(app.map_request(move |mut request: Request<hyper::body::Incoming>| {
        proven.prove();
        request.extensions_mut().insert(server_stop.clone());
        request
    }));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let mut connection = pin!(builder.serve_connection(io, service).with_upgrades());
    let mut stopping = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = activity.idle_beyond(limits.idle_timeout) => {
                tracing::debug!("closing a connection idle for {:?}", limits.idle_timeout);
                return;
            }
            () = slot.displaced.cancelled() => {
                tracing::debug!("closing a connection that sent no request, to make room for a new one");
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
}

/// Cancelled when the server stops: long-lived exchanges (WebSockets), which outlive the HTTP
/// connection they were upgraded from, end with it. In every request's extensions.
#[derive(Clone)]
pub struct ServerStop(pub CancellationToken);

/// A minimal 503 for a connection over the cap, then closed. Written without waiting: a new
/// connection's send buffer is empty, and a client that cannot take 200 bytes gets nothing.
fn refuse(stream: TcpStream) {
    use std::io::{Read as _, Write as _};
    const BODY: &str = r#"{"error":"the server has too many open connections; try again shortly"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-content-type-options: nosniff\r\nretry-after: 1\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    // The tokio stream would wait for the reactor to report it writable; the socket itself is.
    let Ok(mut stream) = stream.into_std() else { return };
    if stream.write_all(response.as_bytes()).is_ok() {
        let _ = stream.shutdown(std::net::Shutdown::Write);
        // Read what already arrived, so that closing does not reset the connection (and with
        // it the answer) because of unread request bytes.
        let mut sink = [0u8; 4096];
        while matches!(stream.read(&mut sink), Ok(read) if read > 0) {}
    }
}

/// Receives the whole request body within `timeout` (in total, however it trickles in), then
/// hands the request on with the body in memory. Bodies are small (at most 64 KiB).
///
/// A body over the limit (announced or found so) is not read further: the request goes on with a
/// stand-in body one byte over the limit, so that the route's own body extractor refuses it in its
/// family's shape (a JSON error, an error page, an OAuth error), and the connection is closed.
pub(super) async fn receive_body_within(State(timeout): State<Duration>, request: Request, next: Next) -> Response {
    let announced =
        request.headers().get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    let (parts, body) = request.into_parts();
    if announced.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return closing(next.run(over_the_limit(parts)).await);
    }
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(error)) => {
            let error = error.into_inner();
            if error.is::<http_body_util::LengthLimitError>() {
                closing(next.run(over_the_limit(parts)).await)
            } else {
                closing(ApiError::bad_request(format!("cannot read the request body: {error}")).into_response())
            }
        }
        Err(_) => closing(
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("the request body did not arrive within {}", humantime::format_duration(timeout)),
            )
            .into_response(),
        ),
    }
}

/// The request with a body one byte over the limit in place of the one left unread.
fn over_the_limit(mut parts: axum::http::request::Parts) -> Request {
    parts.headers.remove(header::CONTENT_LENGTH);
    Request::from_parts(parts, Body::from(vec![0; MAX_BODY_BYTES + 1]))
}

/// An answer after which the connection is closed (its request body was not read whole).
fn closing(mut response: Response) -> Response {
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The cap on open connections, lowered to fit the open-files limit (raised first, up to the
/// hard limit, when it is lower than the cap needs).
pub fn connection_cap(requested: usize) -> usize {
    let wanted = requested.saturating_add(EVICTION_SLACK + RESERVED_FDS);
    let Some(limit) = open_files_limit(wanted) else {
        return requested;
    };
    let fitting = limit.saturating_sub(EVICTION_SLACK + RESERVED_FDS).max(1);
    if fitting < requested {
        tracing::warn!(
            "the open files limit is {limit}: at most {fitting} connections instead of {requested} \
             (raise it with ulimit -n, or lower --max-connections)"
        );
        return fitting;
    }
    requested
}

/// The soft limit on open files, raised toward `wanted` within the hard limit.
#[cfg(unix)]
fn open_files_limit(wanted: usize) -> Option<usize> {
    let wanted = libc::rlim_t::try_from(wanted).unwrap_or(libc::rlim_t::MAX);
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes into the struct it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    if limit.rlim_cur < wanted && limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: wanted.min(limit.rlim_max), rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = raised.rlim_cur;
        }
    }
    Some(usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
fn open_files_limit(_wanted: usize) -> Option<usize> {
    None
}

/// The open connections, and the ones among them that have not sent a complete request yet
/// (by age: the oldest is displaced first).
struct Slots {
    max: usize,
    state: Mutex<SlotState>,
    /// Notified whenever a connection closes.
    freed: tokio::sync::Notify,
}

#[derive(Default)]
struct SlotState {
    open: usize,
    next_id: u64,
    unproven: BTreeMap<u64, CancellationToken>,
}

/// A connection's place under the cap, given back when it is dropped.
struct Slot {
    id: u64,
    slots: Arc<Slots>,
    proven: AtomicBool,
    /// Cancelled when a newer connection takes this one's place.
    displaced: CancellationToken,
}

impl Slots {
    fn new(max: usize) -> Self {
        Self { max, state: Mutex::default(), freed: tokio::sync::Notify::new() }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A slot for a new connection, displacing the oldest unproven one at the cap; `None` when
    /// every open connection is busy. While too many displaced connections are still closing,
    /// waits (up to [`DISPLACEMENT_WAIT`]) for them: new connections wait in the listen queue.
    async fn admit(self: &Arc<Self>) -> Option<Arc<Slot>> {
        loop {
            {
                let mut state = self.lock();
                if state.open < self.max + EVICTION_SLACK {
                    if state.open >= self.max {
                        let (_, oldest) = state.unproven.pop_first()?;
                        oldest.cancel();
                    }
                    return Some(self.open_slot(&mut state));
                }
            }
            tokio::time::timeout(DISPLACEMENT_WAIT, self.freed.notified()).await.ok()?;
        }
    }

    fn open_slot(self: &Arc<Self>, state: &mut SlotState) -> Arc<Slot> {
        state.open += 1;
        let id = state.next_id;
        state.next_id += 1;
        let displaced = CancellationToken::new();
        state.unproven.insert(id, displaced.clone());
        Arc::new(Slot { id, slots: self.clone(), proven: AtomicBool::new(false), displaced })
    }
}

impl Slot {
    /// The connection sent a complete request header: it is a client, not a stall.
    fn prove(&self) {
        if !self.proven.swap(true, Ordering::Relaxed) {
            self.slots.lock().unproven.remove(&self.id);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.slots.lock();
        state.open -= 1;
        state.unproven.remove(&self.id);
        drop(state);
        // A permit is kept if the accept loop is not waiting: it then looks once more, harmlessly.
        self.slots.freed.notify_one();
    }
}

/// When a connection last moved a byte.
struct Activity {
    since: Instant,
    last_millis: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self { since: Instant::now(), last_millis: AtomicU64::new(0) }
    }

    fn touch(&self) {
        let millis = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    /// Resolves once no byte has moved for `limit`.
    async fn idle_beyond(&self, limit: Duration) {
        loop {
            let last = self.since + Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
            let idle = last.elapsed();
            if idle >= limit {
                return;
            }
            tokio::time::sleep(limit - idle).await;
        }
    }
}

/// A stream that records its activity, and holds its connection's place under the cap while
/// it is open (also after an upgrade hands it to a WebSocket).
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
    _place: Arc<Slot>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn at_the_cap_the_oldest_unproven_connection_makes_room() {
        let slots = Arc::new(Slots::new(2));
        let first = slots.admit().await.unwrap();
        let second = slots.admit().await.unwrap();
        second.prove();
        let third = slots.admit().await.expect("the unproven first connection makes room");
        assert!(first.displaced.is_cancelled() && !second.displaced.is_cancelled());
        third.prove();
        drop(first);
        assert!(slots.admit().await.is_none(), "every open connection is busy: refused");
        drop(second);
        assert!(slots.admit().await.is_some(), "a closed connection frees its place");
    }

    #[tokio::test]
    async fn admission_waits_for_displaced_connections_to_close() {
        let slots = Arc::new(Slots::new(1));
        let mut displaced: Vec<_> = Vec::new();
        for _ in 0..=EVICTION_SLACK {
            displaced.push(slots.admit().await.unwrap());
        }
        assert!(displaced[..EVICTION_SLACK].iter().all(|slot| slot.displaced.is_cancelled()));
        let waiting = tokio::spawn({
            let slots = slots.clone();
            async move { slots.admit().await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the slack is used up: wait rather than refuse");
        displaced.remove(0);
        assert!(waiting.await.unwrap(), "a closed connection lets the next one in");
    }
}
