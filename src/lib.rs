//! xkit-dash: an operator's dashboard, a headless CLI and a bundled Xkit-compatible platform
//! server, in one crate. See DESIGN.md in the shared docs for the architecture; the arrows point
//! one way: `tui` and `cli` use `client` and `model`, `server` uses `model`, nothing uses `tui`.

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
