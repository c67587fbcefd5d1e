//! A hostile Xkit-like server on 127.0.0.1 for the client's hardening tests: raw HTTP/1.1 over a
//! std `TcpListener` (one thread per connection, `connection: close`), answering each request
//! with whatever the test's handler decides, and recording what the client sent. Being plain
//! threads, it serves async tests and the pseudo-terminal tests alike.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Connections one server accepts before it stops listening (every test needs far fewer).
const MAX_CONNECTIONS: usize = 5_000;
/// How long a `Hang` answer holds its connection.
const HANG_FOR: Duration = Duration::from_secs(60);
/// Streamed bodies are written this many bytes at a time.
const CHUNK: usize = 64 * 1024;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Path and query, as sent.
    pub target: String,
    pub authorization: Option<String>,
}

impl Seen {
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }

    /// A query parameter, percent-decoded.
    pub fn query(&self, name: &str) -> Option<String> {
        let query = self.target.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == name).map(|(_, value)| value.into_owned())
    }
}

pub enum Answer {
    /// A status and a body labelled JSON (which a test may make anything but).
    Json(u16, String),
    /// A redirect (301, 302, 307, 308) to `location`.
    Redirect(u16, String),
    /// Accept the request and never answer.
    Hang,
    /// A 200 whose body is `total` bytes of JSON-looking filler, written as fast as the client
    /// reads; `claimed_length` is sent as Content-Length (else the body is chunked). Every byte
    /// written is added to `written`.
    Endless { claimed_length: Option<u64>, total: u64, written: Arc<AtomicU64> },
}

pub struct HostileServer {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl HostileServer {
    pub fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler = Arc::new(handler);
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(MAX_CONNECTIONS).flatten() {
                let (handler, log) = (handler.clone(), log.clone());
                std::thread::spawn(move || serve(stream, &*handler, &log));
            }
        });
        Self { url, seen }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests so far to `path` (without the query).
    pub fn count(&self, path: &str) -> usize {
        self.seen.lock().unwrap().iter().filter(|seen| seen.path() == path).count()
    }
}

fn serve(mut stream: TcpStream, handler: &dyn Fn(&Seen) -> Answer, log: &Mutex<Vec<Seen>>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(seen) = read_request(&mut stream) else { return };
    log.lock().unwrap().push(seen.clone());
    match handler(&seen) {
        Answer::Json(status, body) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
        Answer::Redirect(status, location) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
        }
        Answer::Hang => std::thread::sleep(HANG_FOR),
        Answer::Endless { claimed_length, total, written } => {
            let framing = match claimed_length {
                Some(length) => format!("content-length: {length}"),
                None => "transfer-encoding: chunked".to_owned(),
            };
            let head =
                format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{framing}\r\nconnection: close\r\n\r\n");
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            let filler = vec![b' '; CHUNK];
            let mut sent = 0u64;
            while sent < total {
                let frame = if claimed_length.is_some() {
                    filler.clone()
                } else {
                    [format!("{CHUNK:x}\r\n").as_bytes(), &filler, b"\r\n"].concat()
                };
                if stream.write_all(&frame).is_err() {
                    return;
                }
                sent += CHUNK as u64;
                written.fetch_add(CHUNK as u64, Ordering::SeqCst);
            }
        }
    }
}

/// Reads the request head (and discards a body announced by Content-Length).
fn read_request(stream: &mut TcpStream) -> Option<Seen> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 64 * 1024 || stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    // The method, then the target.
    let target = lines.next()?.split(' ').nth(1)?.to_owned();
    let mut authorization = None;
    let mut body_length = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else { continue };
        match name.trim().to_ascii_lowercase().as_str() {
            "authorization" => authorization = Some(value.trim().to_owned()),
            "content-length" => body_length = value.trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    let mut body = vec![0u8; body_length.min(1 << 20)];
    stream.read_exact(&mut body).ok()?;
    Some(Seen { target, authorization })
}

/// A page of `rows` connections needing attention (each in a context of its own, numbered from
/// `first`), then `next_cursor`.
pub fn connections_page(first: usize, rows: usize, next_cursor: Option<&str>) -> String {
    let connections: Vec<String> = (first..first + rows)
        .map(|n| {
            format!(
                r#"{{"id":"c{n}","enabled":true,"connector":{{"name":"S","slug":"s"}},"authorization":{{"status":"error"}},"context":{{"external_id":"x{n}"}}}}"#
            )
        })
        .collect();
    let cursor = next_cursor.map_or("null".to_owned(), |cursor| format!("{cursor:?}"));
    format!(r#"{{"connections":[{}],"next_cursor":{cursor}}}"#, connections.join(","))
}
