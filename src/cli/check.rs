//! `check`: scan the target, summarize health per connector, list what needs attention, and
//! say so through the exit code (for cron and CI).

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::pin::pin;
use std::time::Duration;

use anstyle::AnsiColor;
use anyhow::{Context as _, Result};
use futures::TryStreamExt as _;
use serde::Serialize;

use super::exit::{EXIT_ATTENTION, EXIT_OK, exit_codes_help};
use super::list::ScanFilters;
use super::output::{self, Cell, ConnectionRow, Table};
use super::progress::drive_scan;
use super::recent::{self, RecentBreaks};
use super::session::Session;
use crate::client::{Client, ClientError};
use crate::humanize::relative_time;
use crate::model::{Connection, Health, PlatformStats};
use crate::scan::{RowBudget, ScanRequest};

pub const EXAMPLES: &str = concat!(
    "Examples:
  xkit-dash check
  xkit-dash check --connector salesforce --json | jq '.unhealthy[]'
  xkit-dash check --context acme --context globex --expiring-within 24h
  xkit-dash check --since 1h      # also what broke in the last hour (xkit-dash's server)
  xkit-dash --profile prod check || page-oncall

",
    exit_codes_help!()
);

/// The healths a connection can have (a scan never yields "not installed").
const COUNTED: [Health; 5] = [Health::Active, Health::Pending, Health::Unknown, Health::Error, Health::Disabled];

#[derive(Debug, Clone, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub filters: ScanFilters,
    /// Only look at connections whose access token expires within DURATION (`24h`, `90m`) or
    /// has expired, as reported by the server; each one found needs attention.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub expiring_within: Option<Duration>,
    /// Also list what broke in the last DURATION (`1h`, `30m`): the `connection.error` and
    /// `connection.refresh_failed` events of xkit-dash's own server. The exit code still says
    /// what is broken now.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub since: Option<Duration>,
    /// Print one JSON report instead of tables.
    #[arg(long)]
    pub json: bool,
}

/// The most connections needing attention that `check` lists (worst first); the rest are
/// only counted, so a huge or hostile platform costs counts, not rows.
const MAX_LISTED: usize = 1000;

/// Page size asked of the listing of contexts without connections.
const CONTEXTS_PAGE: u32 = 500;

/// `check --json`: a stable, documented shape.
#[derive(Debug, Serialize)]
struct CheckReport {
    /// The Platform API base URL that was scanned.
    target: String,
    /// Connections looked at (after filters).
    scanned: usize,
    /// Distinct contexts among them.
    contexts: usize,
    /// True when nothing needs attention (exit code 0).
    healthy: bool,
    /// `--expiring-within`, in seconds, when given.
    expiring_within_seconds: Option<u64>,
    /// Per health, over every connector.
    totals: BTreeMap<Health, usize>,
    /// Per connector slug, per health.
    summary: BTreeMap<String, BTreeMap<Health, usize>>,
    /// How many connections need attention; `unhealthy` lists at most 1000 of them.
    unhealthy_total: usize,
    /// The connections needing attention, worst first (at most 1000).
    unhealthy: Vec<ConnectionRow>,
    /// With `--since`: what broke in the window.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    recent: Option<RecentBreaks>,
}

/// What `check` keeps while the scan streams by: counts, and the worst connections only.
struct Tally {
    /// Only connections expiring before this count (`--expiring-within`).
    deadline: Option<chrono::DateTime<chrono::Utc>>,
    received: usize,
    saw_expiry: bool,
    scanned: usize,
    contexts: HashSet<String>,
    totals: BTreeMap<Health, usize>,
    summary: BTreeMap<String, BTreeMap<Health, usize>>,
    flagged_total: usize,
    /// The worst flagged connections seen so far: trimmed to [`MAX_LISTED`] whenever it doubles.
    worst: Vec<Connection>,
    /// With `--since`: the ids of every connection needing attention, whatever the window.
    unhealthy_ids: Option<HashSet<String>>,
}

impl Tally {
    fn new(expiring_within: Option<Duration>, remember_unhealthy: bool) -> Self {
        let deadline = expiring_within
            .map(|within| chrono::Utc::now() + chrono::Duration::from_std(within).unwrap_or(chrono::TimeDelta::MAX));
        Self {
            deadline,
            received: 0,
            saw_expiry: false,
            scanned: 0,
            contexts: HashSet::new(),
            totals: COUNTED.iter().map(|health| (*health, 0)).collect(),
            summary: BTreeMap::new(),
            flagged_total: 0,
            worst: Vec::new(),
            unhealthy_ids: remember_unhealthy.then(HashSet::new),
        }
    }

    fn add_all(&mut self, connections: Vec<Connection>) -> Result<()> {
        for connection in connections {
            self.add(connection);
        }
        Ok(())
    }

    /// Takes the counts of the healths that need no attention from the server's counters; the
    /// connections needing attention are then listed and [`Tally::add`]ed one by one, so their
    /// counts, the worst of them and `--since`'s ids come from the rows themselves.
    fn count_from(&mut self, stats: &PlatformStats) {
        for connector in stats.connectors.iter().filter(|connector| connector.health.total() > 0) {
            let counts = self
                .summary
                .entry(connector.slug.clone())
                .or_insert_with(|| COUNTED.iter().map(|health| (*health, 0)).collect());
            for health in COUNTED.into_iter().filter(|health| !health.needs_attention()) {
                let count = usize::try_from(connector.health.get(health)).unwrap_or(usize::MAX);
                *counts.entry(health).or_default() += count;
                *self.totals.entry(health).or_default() += count;
                self.scanned += count;
            }
        }
    }

    fn add(&mut self, connection: Connection) {
        self.received += 1;
        let expiry = expires_at(&connection);
        self.saw_expiry |= expiry.is_some();
        if let Some(ids) = &mut self.unhealthy_ids
            && Health::of(Some(&connection)).needs_attention()
        {
            ids.insert(connection.id.clone());
        }
        if let Some(deadline) = self.deadline
            && expiry.is_none_or(|expiry| expiry > deadline)
        {
            return;
        }
        self.scanned += 1;
        let health = Health::of(Some(&connection));
        *self.totals.entry(health).or_default() += 1;
        let counts = self
            .summary
            .entry(connection.connector.slug.clone())
            .or_insert_with(|| COUNTED.iter().map(|health| (*health, 0)).collect());
        *counts.entry(health).or_default() += 1;
        if let Some(context) = &connection.context
            && !self.contexts.contains(&context.external_id)
        {
            self.contexts.insert(context.external_id.clone());
        }
        if self.deadline.is_some() || health.needs_attention() {
            self.flagged_total += 1;
            self.worst.push(connection);
            if self.worst.len() >= 2 * MAX_LISTED {
                self.trim();
            }
        }
    }

    /// Worst first: health, then context and connector.
    fn trim(&mut self) {
        let key = |connection: &Connection| {
            let context = connection.context.as_ref().map(|context| context.external_id.clone()).unwrap_or_default();
            (std::cmp::Reverse(Health::of(Some(connection))), context, connection.connector.slug.clone())
        };
        self.worst.sort_by_cached_key(key);
        self.worst.truncate(MAX_LISTED);
    }
}

pub async fn run(session: &Session, args: CheckArgs) -> Result<u8> {
    let target = session.open_target().await?;
    let mut request = args.filters.request(None, &target);
    request.expiring_within = args.expiring_within;
    let mut tally = Tally::new(args.expiring_within, args.since.is_some());
    // Narrowed checks read only what their filters select (the server filters the listing);
    // a whole-platform check asks for the server's counters, where offered, and lists only the
    // connections needing attention, so its cost follows them and not the platform.
    let platform_wide =
        args.filters.contexts.is_empty() && args.filters.connectors.is_empty() && args.expiring_within.is_none();
    let stats = if platform_wide { offered_stats(&target.client).await? } else { None };
    let contexts = match stats {
        Some(stats) => {
            tally.count_from(&stats);
            for health in COUNTED.into_iter().filter(|health| health.needs_attention()) {
                let request = ScanRequest { health: Some(health), ..request.clone() };
                drive_scan(target.client.clone(), request, |page| tally.add_all(page)).await?;
            }
            let budget = RowBudget::new(&target.client, request.max_connections, "contexts");
            let empty = contexts_without_connections(&target.client, &budget).await?;
            usize::try_from(stats.contexts.saturating_sub(empty)).unwrap_or(usize::MAX)
        }
        None => {
            drive_scan(target.client.clone(), request, |page| tally.add_all(page)).await?;
            tally.contexts.len()
        }
    };
    if args.expiring_within.is_some() && tally.received > 0 && !tally.saw_expiry {
        eprintln!("xkit-dash: note: the server reports no expiry for these connections");
    }
    tally.trim();
    let recent = match (args.since, &tally.unhealthy_ids) {
        (Some(since), Some(unhealthy)) => Some(recent::read(&target.client, since, &args.filters, unhealthy).await?),
        _ => None,
    };
    if let Some(note) = recent.as_ref().and_then(|recent| recent.recent_unavailable.as_deref()) {
        eprintln!("xkit-dash: note: --since lists nothing: {note}");
    }

    let catalog = if tally.worst.is_empty() { None } else { target.catalog_url().await };
    let unhealthy: Vec<ConnectionRow> =
        tally.worst.iter().map(|connection| ConnectionRow::new(connection, catalog.as_deref())).collect();
    let report = CheckReport {
        target: target.client.base_url().to_string(),
        scanned: tally.scanned,
        contexts,
        healthy: tally.flagged_total == 0,
        expiring_within_seconds: args.expiring_within.map(|within| within.as_secs()),
        totals: tally.totals,
        summary: tally.summary,
        unhealthy_total: tally.flagged_total,
        unhealthy,
        recent,
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        output::write_json_line(&mut out, &report)?;
    } else {
        print_human(&mut out, &report, &target.label(), args.expiring_within.is_some())?;
        if let (Some(recent), Some(since)) = (&report.recent, args.since) {
            recent::print(&mut out, recent, since)?;
        }
    }
    out.flush()?;
    Ok(if report.healthy { EXIT_OK } else { EXIT_ATTENTION })
}

/// The server's counters, or `None` from a server without them: a real Xkit answers 404, and
/// a server that answers something else than totals does not offer them either. Any other
/// failure (keys, availability) would fail the scan alike, so it ends the check.
async fn offered_stats(client: &Client) -> Result<Option<PlatformStats>> {
    match client.stats().await {
        Ok(stats) => Ok(Some(stats)),
        Err(error @ (ClientError::NotFound(_) | ClientError::InvalidResponse(_))) => {
            tracing::debug!(%error, "no platform totals (GET /stats); scanning every connection");
            Ok(None)
        }
        Err(error) => Err(error).context("cannot read the platform's totals (GET /stats)"),
    }
}

/// How many contexts have no connection: the server lists them by their health
/// (`not_installed`), so this costs what they number, not what the platform does.
async fn contexts_without_connections(client: &Client, budget: &RowBudget) -> Result<u64> {
    let mut pages = pin!(client.pages(|cursor| async move {
        client.list_contexts_of_health(Health::NotInstalled, cursor.as_deref(), Some(CONTEXTS_PAGE)).await
    }));
    let mut empty = 0;
    while let Some(page) = pages.try_next().await? {
        budget.take(page.contexts.len())?;
        empty += page.contexts.iter().filter(|context| context.connection_count == Some(0)).count() as u64;
    }
    Ok(empty)
}

fn expires_at(connection: &Connection) -> Option<chrono::DateTime<chrono::Utc>> {
    connection.authorization.as_ref().and_then(|authorization| authorization.expires_at)
}

fn print_human(out: &mut impl std::io::Write, report: &CheckReport, label: &str, expiring: bool) -> Result<()> {
    let colour = output::stdout_colour();
    writeln!(out, "Target: {}", crate::sanitize::for_terminal(label))?;
    writeln!(out, "Scanned {} connections in {} contexts.", report.scanned, report.contexts)?;
    if report.scanned > 0 {
        writeln!(out)?;
        let mut table = Table::new(vec!["CONNECTOR", "ACTIVE", "PENDING", "UNKNOWN", "ERROR", "DISABLED"]);
        let count_cells = |counts: &BTreeMap<Health, usize>| -> Vec<Cell> {
            COUNTED
                .iter()
                .map(|health| {
                    let count = counts.get(health).copied().unwrap_or(0);
                    let cell = Cell::local(count.to_string());
                    if count > 0 && health.needs_attention() {
                        cell.styled(output::health_style(*health))
                    } else {
                        cell
                    }
                })
                .collect()
        };
        for (slug, counts) in &report.summary {
            let mut row = vec![Cell::remote(slug, 30)];
            row.extend(count_cells(counts));
            table.push(row);
        }
        let mut total = vec![Cell::local("TOTAL").styled(anstyle::Style::new().bold())];
        total.extend(count_cells(&report.totals));
        table.push(total);
        table.write(out, colour)?;
    }
    writeln!(out)?;
    if report.unhealthy.is_empty() {
        let ok = Cell::local(if expiring {
            "OK: no connection expires within the window."
        } else {
            "OK: no connection needs attention."
        })
        .styled(AnsiColor::Green.on_default());
        ok.write_to(out, colour)?;
        writeln!(out)?;
        return Ok(());
    }
    let what = if expiring { "expire within the window" } else { "need attention" };
    let heading = Cell::local(format!("{} connections {what}:", report.unhealthy_total))
        .styled(AnsiColor::Red.on_default().bold());
    heading.write_to(out, colour)?;
    writeln!(out)?;
    let now = chrono::Utc::now();
    let mut table =
        Table::new(vec!["CONTEXT", "CONNECTOR", "HEALTH", "EXPIRES", "ERROR CODE", "ERROR MESSAGE", "REPAIR URL"]);
    for row in &report.unhealthy {
        table.push(vec![
            Cell::remote(&row.context, 40),
            Cell::remote(&row.connector, 30),
            Cell::health(row.health),
            Cell::local(row.expires_at.map(|time| relative_time(time, now)).unwrap_or_default()),
            Cell::remote(row.error_code.as_deref().unwrap_or(""), 40),
            Cell::remote(row.error_message.as_deref().or(row.refresh_error.as_deref()).unwrap_or(""), 80),
            Cell::remote(row.repair_url.as_deref().unwrap_or(""), 200),
        ]);
    }
    table.write(out, colour)?;
    let unlisted = report.unhealthy_total - report.unhealthy.len();
    if unlisted > 0 {
        writeln!(
            out,
            "... and {unlisted} more (the worst {} are listed; --connector or --context narrow the check)",
            report.unhealthy.len()
        )?;
    }
    Ok(())
}
