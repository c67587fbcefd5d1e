//! Signed webhooks: endpoints (added by `xkit-dash webhooks` or `POST /api/platform/webhooks`),
//! the delivery worker that drains the durable outbox the store's triggers fill, the signature,
//! and the SSRF rules of their targets.

mod command;
mod endpoints;
mod settings;
mod signature;
mod target;
mod worker;

pub use command::{WebhooksCommand, run};
pub use endpoints::{first_attempt, new_endpoint};
pub use settings::WebhookSettings;
pub(super) use worker::spawn_worker;
