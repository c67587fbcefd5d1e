//! The server's API suites again, on PostgreSQL: every `TestPlatform` gets a fresh database of
//! its own on the throwaway cluster of `support::postgres` (or `XKIT_TEST_DATABASE_URL`). The
//! suites are the files of `tests/it`, shared as they are; `BACKEND` tells `support` which
//! store to give them. `cargo test --test postgres server_api::` selects one suite.
//!
//! Left out, and why: `server_lifecycle` and `migrations` (a data directory's SQLite file, its
//! permissions and schema steps), `scale_platform` and `server_soak` (SQLite's bulk import and
//! long soaks; the PostgreSQL benchmarks cover their ground), the `tui_*` suites (the dashboard,
//! whose embedded demo stays SQLite), `hostile_servers` (the client, no store), `docs`, and
//! `postgres_*` (which drive both backends themselves). In the suites below, a few tests are
//! about something else than the platform's store and stay on SQLite here too: the transport's
//! stalled connections (`server_connections`, a `serve` process on a data directory) and the
//! store-level rollback test of `events` (a SQLite store opened directly); `serve` child
//! processes otherwise run on the target's backend (`support::server::ServedPlatform`).

// The suites here use a part of the shared support code; the rest serves `tests/it`.
#[allow(dead_code)]
#[path = "../it/support/mod.rs"]
mod support;

/// The backend of the server suites in this target.
pub const BACKEND: support::Backend = support::Backend::Postgres;

#[path = "../it/browser_access.rs"]
mod browser_access;
#[path = "../it/check_stats.rs"]
mod check_stats;
#[path = "../it/cli_commands.rs"]
mod cli_commands;
#[path = "../it/client_api.rs"]
mod client_api;
#[path = "../it/connect_popup.rs"]
mod connect_popup;
#[path = "../it/events.rs"]
mod events;
#[path = "../it/html_routes.rs"]
mod html_routes;
#[path = "../it/oauth_flows.rs"]
mod oauth_flows;
#[path = "../it/scan_routes.rs"]
mod scan_routes;
#[path = "../it/scheduler.rs"]
mod scheduler;
#[path = "../it/server_api.rs"]
mod server_api;
#[path = "../it/server_connections.rs"]
mod server_connections;
#[path = "../it/server_properties.rs"]
mod server_properties;
#[path = "../it/socket.rs"]
mod socket;
#[path = "../it/stats.rs"]
mod stats;
#[path = "../it/stats_history.rs"]
mod stats_history;
#[path = "../it/webhooks.rs"]
mod webhooks;
#[path = "../it/xkitjs.rs"]
mod xkitjs;
#[path = "../it/xkitjs_connect.rs"]
mod xkitjs_connect;
#[path = "../it/xkitjs_methods.rs"]
mod xkitjs_methods;
