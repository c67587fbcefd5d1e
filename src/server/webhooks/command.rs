//! `xkit-dash webhooks ...`: endpoints of a data directory's platform, as `keys` and `origins`
//! manage theirs. A running server's worker looks at the outbox every second, so an endpoint
//! added or a test queued here is delivered by it without a restart.

use std::time::Duration;

use anyhow::{Context as _, Result};
use secrecy::ExposeSecret as _;

use super::endpoints::{first_attempt, new_endpoint};
use super::settings::WebhookSettings;
use crate::config::ConfigError;
use crate::model::{Webhook, WebhookDelivery};
use crate::sanitize::for_terminal_within;
use crate::server::database::{PlatformArgs, PlatformLocation};

/// How long `webhooks test` waits for the server to make its first attempt.
const TEST_WAIT: Duration = Duration::from_secs(30);
/// Longest receiver-made text (an error) shown in a table.
const MAX_FIELD_CHARS: usize = 200;

/// `xkit-dash webhooks ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Register an endpoint; prints its signing secret, once.
    #[command(after_help = "Examples:\n  xkit-dash webhooks add https://ops.example.com/hooks/xkit\n  \
                            xkit-dash webhooks add https://ops.example.com/hooks/xkit --events connection.error,connection.recovered --json")]
    Add {
        /// An http(s) URL; loopback and private addresses only when the server listens on
        /// loopback or runs with --allow-private-webhooks.
        url: String,
        /// Only these event types, comma-separated (default: every type).
        #[arg(long, value_name = "TYPES", value_delimiter = ',')]
        events: Option<Vec<String>>,
        #[command(flatten)]
        platform: PlatformArgs,
        /// Print `{"webhook": {...}, "secret": "whsec_..."}`.
        #[arg(long)]
        json: bool,
    },
    /// List the endpoints (never their secrets), with their state and queue.
    #[command(
        after_help = "Examples:\n  xkit-dash webhooks list\n  xkit-dash webhooks list --json | jq -r 'select(.enabled | not) | .id'"
    )]
    List {
        #[command(flatten)]
        platform: PlatformArgs,
        /// One webhook object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove an endpoint, its queue and its delivery history.
    #[command(after_help = "Examples:\n  xkit-dash webhooks remove wh_Xj3k9aQ2mP0z")]
    Remove {
        id: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Enable an endpoint the server disabled (failing for too long).
    #[command(after_help = "Examples:\n  xkit-dash webhooks enable wh_Xj3k9aQ2mP0z")]
    Enable {
        id: String,
        #[command(flatten)]
        platform: PlatformArgs,
    },
    /// Send a `webhook.test` event to one endpoint (through the running server) and report the
    /// first attempt: exit 0 on a 2xx answer, 2 otherwise.
    #[command(after_help = "Examples:\n  xkit-dash webhooks test wh_Xj3k9aQ2mP0z")]
    Test {
        id: String,
        #[command(flatten)]
        platform: PlatformArgs,
        /// Print the attempt as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delivery attempts, newest first (the last 500 per endpoint are kept).
    #[command(
        after_help = "Examples:\n  xkit-dash webhooks deliveries\n  xkit-dash webhooks deliveries wh_Xj3k9aQ2mP0z --json"
    )]
    Deliveries {
        /// Only this endpoint's.
        id: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[command(flatten)]
        platform: PlatformArgs,
        /// One attempt object per line.
        #[arg(long)]
        json: bool,
    },
}

impl WebhooksCommand {
    pub fn platform(&self) -> &PlatformArgs {
        match self {
            Self::Add { platform, .. }
            | Self::List { platform, .. }
            | Self::Remove { platform, .. }
            | Self::Enable { platform, .. }
            | Self::Test { platform, .. }
            | Self::Deliveries { platform, .. } => platform,
        }
    }
}

/// Runs `command` on the platform at `location`; an error for a failed test too.
pub async fn run(command: WebhooksCommand, location: &PlatformLocation) -> Result<()> {
    let store = location.existing().await?;
    match command {
        WebhooksCommand::Add { url, events, json, .. } => {
            // The rule of the server that delivers: the one last started on this directory.
            let allow_private = store.webhook_private_targets_allowed().await?;
            let (webhook, secret) =
                new_endpoint(&url, events, allow_private.unwrap_or(WebhookSettings::default().allow_private))
                    .await
                    .map_err(|reason| match allow_private {
                        Some(_) => ConfigError(reason),
                        None => ConfigError(format!("{reason} (no server has started on {} yet)", location.describe())),
                    })?;
            let webhook = store.add_webhook(webhook).await?;
            // The user asked for the endpoint: this is the one time its secret is shown.
            if json {
                println!("{}", serde_json::json!({"webhook": webhook, "secret": secret.expose_secret()}));
            } else {
                println!("added {} -> {}", webhook.id, webhook.url);
                println!("signing secret: {}", secret.expose_secret());
                eprintln!("The secret is shown only once: keep it where your receiver can read it.");
            }
        }
        WebhooksCommand::List { json, .. } => {
            let webhooks = store.webhooks().await?;
            if json {
                for webhook in &webhooks {
                    println!("{}", serde_json::to_string(webhook)?);
                }
            } else if webhooks.is_empty() {
                eprintln!("no webhooks; add one with: xkit-dash webhooks add https://ops.example.com/hooks/xkit");
            } else {
                println!("{:<16}  {:<9}  {:>7}  {:<40}  EVENTS", "ID", "STATE", "PENDING", "URL");
                for webhook in &webhooks {
                    println!(
                        "{:<16}  {:<9}  {:>7}  {:<40}  {}",
                        webhook.id,
                        state(webhook),
                        webhook.pending,
                        webhook.url,
                        webhook.events.as_ref().map_or_else(|| "all".to_owned(), |events| events.join(","))
                    );
                }
            }
        }
        WebhooksCommand::Remove { id, .. } => {
            let webhook = store.remove_webhook(id).await.context("cannot remove the webhook")?;
            println!("removed {} ({})", webhook.id, webhook.url);
        }
        WebhooksCommand::Enable { id, .. } => {
            let webhook = store.enable_webhook(id).await.context("cannot enable the webhook")?;
            println!("enabled {} ({})", webhook.id, webhook.url);
        }
        WebhooksCommand::Test { id, json, .. } => {
            let event_id = store.queue_webhook_test(id.clone()).await.context("cannot queue the test")?;
            let Some(attempt) = first_attempt(&store, &id, &event_id, TEST_WAIT).await? else {
                anyhow::bail!(
                    "queued test event {event_id}, but no server delivered it within {}s: is `xkit-dash serve \
                     {}` running? It stays queued and goes out when the server runs",
                    TEST_WAIT.as_secs(),
                    location.flag()
                );
            };
            if json {
                println!("{}", serde_json::to_string(&attempt)?);
            } else {
                println!("{}", attempt_line(&attempt));
            }
            if !attempt.delivered {
                anyhow::bail!("the test event was not delivered; the server retries it with backoff");
            }
        }
        WebhooksCommand::Deliveries { id, limit, json, .. } => {
            let attempts = store.webhook_deliveries(id, None, limit).await?;
            if json {
                for attempt in &attempts {
                    println!("{}", serde_json::to_string(attempt)?);
                }
            } else if attempts.is_empty() {
                eprintln!("no delivery attempts yet");
            } else {
                for attempt in &attempts {
                    println!("{}", attempt_line(attempt));
                }
            }
        }
    }
    Ok(())
}

fn state(webhook: &Webhook) -> &'static str {
    match (webhook.enabled, &webhook.failing_since) {
        (false, _) => "disabled",
        (true, Some(_)) => "failing",
        (true, None) => "ok",
    }
}

/// `2026-01-01T12:00:00.123Z  wh_...  connection.error  e1...  #2  HTTP 500  35 ms`.
fn attempt_line(attempt: &WebhookDelivery) -> String {
    let outcome = match (attempt.status_code, &attempt.error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(error)) => for_terminal_within(error, MAX_FIELD_CHARS),
        (None, None) => "no answer".to_owned(),
    };
    format!(
        "{}  {}  {:<26}  {}  #{}  {}  {} ms  {}",
        attempt.attempted_at,
        attempt.webhook_id,
        attempt.event_type,
        attempt.event_id,
        attempt.attempt,
        if attempt.delivered { "delivered" } else { "failed" },
        attempt.duration_ms,
        outcome
    )
}
