//! `check --since DURATION`: what broke recently, from the event history (`GET /events`, an
//! extension of xkit-dash's own server): each `connection.error` and
//! `connection.refresh_failed` of the window, newest first, with whether the connection still
//! needs attention now. It informs and does not change the verdict: the exit code says what is
//! broken now, whatever broke and recovered in between.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use anstyle::AnsiColor;
use anyhow::{Context as _, Result};
use serde::Serialize;

use super::list::ScanFilters;
use super::output::{self, Cell, Table};
use crate::client::{Client, ClientError};
use crate::humanize::relative_time;
use crate::model::{Event, EventsQuery};

/// The event types listed: a connection that broke, and a refresh that failed for a while.
const BREAK_TYPES: [&str; 2] = ["connection.error", "connection.refresh_failed"];
/// The most recent breaks listed; older ones are only counted.
const MAX_LISTED: usize = 1000;
/// Events asked for per request.
const PAGE_SIZE: u32 = 1000;
/// Pages read per event type at most: a runaway history costs a bounded number of requests.
const MAX_PAGES: usize = 100;

/// The `--since` part of `check --json`.
#[derive(Debug, Serialize)]
pub struct RecentBreaks {
    /// `--since`, in seconds.
    pub since_seconds: u64,
    /// Breaks in the window (after `--context`/`--connector`); `recent` lists at most 1000.
    pub recent_total: usize,
    /// The newest breaks first.
    pub recent: Vec<RecentBreak>,
    /// Set when the server keeps no event history (a 404 on `GET /events`): nothing is listed.
    pub recent_unavailable: Option<String>,
}

/// One break, flattened for scripts.
#[derive(Debug, Serialize)]
pub struct RecentBreak {
    pub occurred_at: String,
    pub event_type: String,
    pub context: Option<String>,
    pub connector: Option<String>,
    pub connection: Option<String>,
    pub actor: Option<String>,
    /// `error_code` of a `connection.error`.
    pub error_code: Option<String>,
    /// `error_message` of a `connection.error`, `message` of a `connection.refresh_failed`.
    pub error_message: Option<String>,
    /// The connection needs attention now (the same scan's verdict).
    pub still_unhealthy: bool,
}

/// Reads the breaks of the last `since` matching `filters`. `unhealthy` holds the ids of the
/// connections the scan found needing attention.
pub async fn read(
    client: &Client,
    since: Duration,
    filters: &ScanFilters,
    unhealthy: &HashSet<String>,
) -> Result<RecentBreaks> {
    let start = chrono::Utc::now() - chrono::Duration::from_std(since).unwrap_or(chrono::TimeDelta::MAX);
    let mut newest: Vec<Event> = Vec::new();
    let mut total = 0;
    for event_type in BREAK_TYPES {
        let query = EventsQuery { event_type: Some(event_type.to_owned()), since: Some(start), ..Default::default() };
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = match client.list_events(&query, cursor.as_deref(), None, Some(PAGE_SIZE)).await {
                Ok(page) => page,
                Err(ClientError::NotFound(_)) => {
                    return Ok(RecentBreaks {
                        since_seconds: since.as_secs(),
                        recent_total: 0,
                        recent: Vec::new(),
                        recent_unavailable: Some(
                            "this server keeps no event history (GET /events answered 404): only xkit-dash's own \
                             server does"
                                .into(),
                        ),
                    });
                }
                Err(error) => return Err(error).context("cannot read what broke recently (GET /events)"),
            };
            let full = page.events.len() >= PAGE_SIZE as usize;
            for event in page.events.into_iter().filter(|event| matches(event, filters)) {
                total += 1;
                newest.push(event);
                if newest.len() >= 2 * MAX_LISTED {
                    keep_newest(&mut newest);
                }
            }
            if !full {
                break;
            }
            cursor = Some(page.next_cursor);
        }
    }
    keep_newest(&mut newest);
    let recent = newest.into_iter().map(|event| flatten(event, unhealthy)).collect();
    Ok(RecentBreaks { since_seconds: since.as_secs(), recent_total: total, recent, recent_unavailable: None })
}

/// Newest first over both types (RFC 3339 UTC times sort as text), at most [`MAX_LISTED`].
fn keep_newest(events: &mut Vec<Event>) {
    events.sort_by(|a, b| b.occurred_at.cmp(&a.occurred_at));
    events.truncate(MAX_LISTED);
}

/// `--context` and `--connector` narrow the history as they narrow the scan.
fn matches(event: &Event, filters: &ScanFilters) -> bool {
    let within = |wanted: &[String], value: &Option<String>| {
        wanted.is_empty() || value.as_ref().is_some_and(|value| wanted.contains(value))
    };
    within(&filters.contexts, &event.context) && within(&filters.connectors, &event.connector)
}

fn flatten(event: Event, unhealthy: &HashSet<String>) -> RecentBreak {
    let text = |key: &str| event.payload.get(key).and_then(|value| value.as_str()).map(str::to_owned);
    RecentBreak {
        error_code: text("error_code"),
        error_message: text("error_message").or_else(|| text("message")),
        still_unhealthy: event.connection.as_ref().is_some_and(|id| unhealthy.contains(id)),
        occurred_at: event.occurred_at,
        event_type: event.event_type,
        context: event.context,
        connector: event.connector,
        connection: event.connection,
        actor: event.actor,
    }
}

/// The text report's section: a heading and a table, or a note.
pub fn print(out: &mut impl Write, recent: &RecentBreaks, since: Duration) -> Result<()> {
    let colour = output::stdout_colour();
    let window = humantime::format_duration(since);
    writeln!(out)?;
    if let Some(note) = &recent.recent_unavailable {
        writeln!(out, "Recent breaks (last {window}): unknown, {note}.")?;
        return Ok(());
    }
    if recent.recent_total == 0 {
        let ok = Cell::local(format!("Nothing broke in the last {window}.")).styled(AnsiColor::Green.on_default());
        ok.write_to(out, colour)?;
        writeln!(out)?;
        return Ok(());
    }
    let heading = Cell::local(format!(
        "{} connection errors and refresh failures in the last {window} (newest first):",
        recent.recent_total
    ))
    .styled(AnsiColor::Yellow.on_default().bold());
    heading.write_to(out, colour)?;
    writeln!(out)?;
    let now = chrono::Utc::now();
    let mut table = Table::new(vec!["WHEN", "EVENT", "CONTEXT", "CONNECTOR", "NOW", "ERROR CODE", "ERROR MESSAGE"]);
    for row in &recent.recent {
        let when = chrono::DateTime::parse_from_rfc3339(&row.occurred_at)
            // Never "in <1m": an event is in the past, even a second-old one.
            .map(|at| relative_time(at.to_utc(), now.max(at.to_utc() + chrono::Duration::seconds(1))))
            .unwrap_or_else(|_| row.occurred_at.clone());
        let state = if row.still_unhealthy {
            Cell::local("still broken").styled(AnsiColor::Red.on_default())
        } else {
            Cell::local("fine now")
        };
        table.push(vec![
            Cell::remote(&when, 40),
            Cell::remote(&row.event_type, 40),
            Cell::remote(row.context.as_deref().unwrap_or(""), 40),
            Cell::remote(row.connector.as_deref().unwrap_or(""), 30),
            state,
            Cell::remote(row.error_code.as_deref().unwrap_or(""), 40),
            Cell::remote(row.error_message.as_deref().unwrap_or(""), 80),
        ]);
    }
    table.write(out, colour)?;
    let unlisted = recent.recent_total - recent.recent.len();
    if unlisted > 0 {
        writeln!(out, "... and {unlisted} older ones (the newest {} are listed)", recent.recent.len())?;
    }
    Ok(())
}
