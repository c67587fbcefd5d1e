//! `events`: the platform's event history (an extension of xkit-dash's own server), oldest
//! first, and with `--follow` every new event as it happens.

use std::io::Write as _;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::exit::EXIT_OK;
use super::output::write_json_line;
use super::session::Session;
use crate::model::{Event, EventsQuery};
use crate::sanitize;

/// Events asked for per request.
const PAGE_SIZE: u32 = 1000;
/// How long one `--follow` request waits for a newer event, at most; always half the request
/// timeout at most, so that a waiting request is never taken for a stalled one.
const FOLLOW_WAIT: Duration = Duration::from_secs(15);
/// Remote strings are cut to this many characters in text output.
const MAX_FIELD_CHARS: usize = 200;

pub const EXAMPLES: &str = "\
Examples:
  xkit-dash events --since 1h
  xkit-dash events --type connection.error --json | jq -r .connection
  xkit-dash events --follow --json >> events.ndjson";

#[derive(Debug, Clone, clap::Args)]
pub struct EventsArgs {
    /// Only events of the last DURATION (`30m`, `1h`, `7days`).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Only events of this type (`connection.error`, `connection.disabled`, `key.revoked`...).
    #[arg(long = "type", value_name = "TYPE")]
    pub event_type: Option<String>,
    /// Only events of this context.
    #[arg(long, value_name = "ID")]
    pub context: Option<String>,
    /// Only events of this connector.
    #[arg(long, value_name = "SLUG")]
    pub connector: Option<String>,
    /// Only events of this connection.
    #[arg(long, value_name = "ID")]
    pub connection: Option<String>,
    /// Keep running and print each new event as it happens (until interrupted).
    #[arg(long)]
    pub follow: bool,
    /// Print newline-delimited JSON, one event per line.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(session: &Session, args: EventsArgs) -> Result<u8> {
    let target = session.open_target().await?;
    let since = match args.since {
        Some(since) => Some(chrono::Utc::now() - chrono::Duration::from_std(since)?),
        None => None,
    };
    let filter = EventsQuery {
        event_type: args.event_type,
        context: args.context,
        connector: args.connector,
        connection: args.connection,
        since,
    };
    let follow_wait = FOLLOW_WAIT.min(session.target_args.client_options().request_timeout / 2);
    let mut out = std::io::stdout().lock();
    let mut cursor: Option<String> = None;
    let mut caught_up = false;
    loop {
        // Once caught up, a follower waits on the server for the next event.
        let wait = (args.follow && caught_up).then_some(follow_wait);
        let page = target
            .client
            .list_events(&filter, cursor.as_deref(), wait, Some(PAGE_SIZE))
            .await
            .context("cannot read the event history (GET /events, an extension of xkit-dash's own server)")?;
        for event in &page.events {
            if args.json {
                write_json_line(&mut out, event)?;
            } else {
                writeln!(out, "{}", text_line(event))?;
            }
        }
        out.flush()?;
        caught_up = page.events.len() < PAGE_SIZE as usize;
        if caught_up && !args.follow {
            return Ok(EXIT_OK);
        }
        cursor = Some(page.next_cursor);
    }
}

/// `occurred_at  event_type  context  connector  connection  actor` (`-` for none), each remote
/// field sanitized.
fn text_line(event: &Event) -> String {
    let field = |value: Option<&str>| sanitize::for_terminal_within(value.unwrap_or("-"), MAX_FIELD_CHARS);
    [
        field(Some(&event.occurred_at)),
        field(Some(&event.event_type)),
        field(event.context.as_deref()),
        field(event.connector.as_deref()),
        field(event.connection.as_deref()),
        field(event.actor.as_deref()),
    ]
    .join("  ")
}
