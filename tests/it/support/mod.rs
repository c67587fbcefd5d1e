//! What the suites share: the real binary with a home of its own, the real server in-process
//! and as a child process, the OAuth2 provider and browser stand-in, the proxy without the bulk
//! route, hostile servers, and the driver of the real xkit.js.

pub mod backends;
pub mod cli;
pub mod hostile;
pub mod oauth;
pub mod pg_tools;
pub mod postgres;
pub mod proxy;
pub mod server;
pub mod xkitjs;

use base64::Engine as _;

/// The store the server suites run on: each test target's `main.rs` names it in `BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in the platform's data directory (`tests/it`).
    Sqlite,
    /// A fresh PostgreSQL database per platform (`tests/postgres`).
    Postgres,
}

use serde_json::Value;

/// The claims of a JWT (context tokens, access tokens), without checking its signature.
pub fn jwt_claims(token: &str) -> Value {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT: {token}");
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
    serde_json::from_slice(&payload).unwrap()
}
