//! Every integration test in one crate, so `cargo test` links one test binary instead of one
//! per file (ripgrep and bottom do the same). Each file of today is a module: select one suite
//! with `cargo test --test it server_api::`, or one test by its name.

mod support;

/// The backend of the server suites here; `tests/postgres` runs them on PostgreSQL.
pub const BACKEND: support::Backend = support::Backend::Sqlite;

mod browser_access;
mod check_stats;
mod cli_commands;
mod client_api;
mod connect_popup;
mod docs;
mod events;
mod hostile_servers;
mod html_routes;
mod migrations;
mod oauth_flows;
mod postgres_connections;
mod postgres_faults;
mod postgres_migrate;
mod postgres_nodes;
mod postgres_platform;
mod postgres_sandbox;
mod postgres_store;
mod postgres_tls;
mod postgres_webhooks;
mod scale_platform;
mod scan_routes;
mod scheduler;
mod server_api;
mod server_connections;
mod server_lifecycle;
mod server_properties;
mod server_soak;
mod socket;
mod stats;
mod stats_history;
mod tui_e2e;
mod tui_live;
mod tui_power;
mod tui_profiles;
mod tui_remote;
mod webhooks;
mod xkitjs;
mod xkitjs_connect;
mod xkitjs_methods;
