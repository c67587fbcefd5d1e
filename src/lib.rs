//! xkit-dash: an operator's dashboard, a headless CLI and a bundled Xkit-compatible platform
//! server, in one crate. ARCHITECTURE.md (at the repository's root) has the whole map.
//!
//! The modules, leaves first; each uses only those above it:
//! - `model`: the wire types and the one definition of health; `sanitize`, `humanize`.
//! - `client`: the Platform API over HTTP (it knows the wire, never the server).
//! - `scan`: the paged scan of a whole platform, shared by the dashboard and the CLI.
//! - `config` (profiles, paths, secrets), `logging`.
//! - `server`: the bundled platform (uses `model`, and `config` and `logging` for its paths and logs).
//! - `target`: which platform to open, with which keys (it starts the embedded demo `server`).
//! - `tui`: the dashboard; `cli`: the command line, which starts the dashboard or the server.

pub mod cli;
pub mod client;
pub mod config;
pub mod humanize;
pub mod logging;
pub mod model;
pub mod sanitize;
pub mod scan;
pub mod server;
pub mod target;
pub mod tui;
