//! `contexts`, `connectors`, `connections` and `connection`: listing and reading.

use std::io::Write as _;
use std::pin::pin;

use anyhow::Result;
use futures::TryStreamExt as _;
use serde::Serialize;

use super::exit::EXIT_OK;
use super::output::{self, Cell, ConnectionRow, Format, ListOutput, Row, Sink};
use super::progress::drive_scan;
use super::session::Session;
use crate::config::ConfigError;
use crate::humanize::relative_time;
use crate::model::{Connection, Connector, Context, Health};
use crate::sanitize;
use crate::scan::{DEFAULT_CONCURRENCY, DEFAULT_MAX_CONNECTIONS, ScanRequest};
use crate::target::OpenTarget;

/// Page size for the context and connector listings.
const PAGE_SIZE: u32 = 200;
/// Credentials are printed whole when asked for (some are long JWTs), within reason.
const MAX_CREDENTIAL_CHARS: usize = 64 * 1024;

pub const CONTEXTS_EXAMPLES: &str = "\
Examples:
  xkit-dash contexts --search acme
  xkit-dash contexts --json | jq -r .external_id
  xkit-dash contexts -o csv > contexts.csv";

pub const CONNECTORS_EXAMPLES: &str = "\
Examples:
  xkit-dash connectors
  xkit-dash connectors --json | jq -r .slug";

pub const CONNECTIONS_EXAMPLES: &str = "\
Examples:
  xkit-dash connections --status error
  xkit-dash connections --connector slack --connector github --json
  xkit-dash connections --context acme -o csv";

pub const CONNECTION_EXAMPLES: &str = "\
Examples:
  xkit-dash connection acme slack
  xkit-dash connection acme slack --json | jq .health
  xkit-dash connection acme slack --refresh     ask the provider for a new token now
  TOKEN=$(xkit-dash connection acme slack --show-credential --json | jq -r .connection.authorization.credential)";

#[derive(Debug, Clone, clap::Args)]
pub struct ContextsArgs {
    /// Only contexts whose id or name contains TEXT (searched by the server).
    #[arg(long, value_name = "TEXT")]
    pub search: Option<String>,
    /// Stop after N contexts.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub output: ListOutput,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectorsArgs {
    #[command(flatten)]
    pub output: ListOutput,
}

/// Filters shared by `connections` and `check`.
#[derive(Debug, Clone, clap::Args)]
pub struct ScanFilters {
    /// Only this context (repeatable).
    #[arg(long = "context", value_name = "ID")]
    pub contexts: Vec<String>,
    /// Only this connector (repeatable).
    #[arg(long = "connector", value_name = "SLUG")]
    pub connectors: Vec<String>,
    /// Requests at once when the server lacks the bulk listing (default: the profile's
    /// `concurrency`, else 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,
    /// Stop with exit code 2 once the server has sent more than N connections (or listed more
    /// than N contexts): a runaway server cannot take the memory of the machine (default: the
    /// profile's `max_connections`, else 100000).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: Option<u64>,
}

impl ScanFilters {
    pub fn request(&self, health: Option<Health>, target: &OpenTarget) -> ScanRequest {
        ScanRequest {
            contexts: self.contexts.clone(),
            connectors: self.connectors.clone(),
            health,
            concurrency: self.concurrency.map(usize::from).or(target.concurrency).unwrap_or(DEFAULT_CONCURRENCY),
            max_connections: self
                .max_connections
                .map(|max| usize::try_from(max).unwrap_or(usize::MAX))
                .or(target.max_connections)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            ..ScanRequest::default()
        }
    }
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionsArgs {
    /// Only connections of this health: active, pending, error, disabled, unknown.
    #[arg(long, value_name = "HEALTH")]
    pub status: Option<Health>,
    #[command(flatten)]
    pub filters: ScanFilters,
    #[command(flatten)]
    pub output: ListOutput,
}

#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionArgs {
    /// The context's external id.
    pub context: String,
    /// The connector's slug.
    pub connector: String,
    /// Print the credential (access token) instead of masking it.
    #[arg(long)]
    pub show_credential: bool,
    /// Force a token refresh first (the provider is asked now, whatever the expiry): shows at
    /// once whether the grant still works. Changes the connection, so refused when read-only.
    #[arg(long)]
    pub refresh: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl Row for Context {
    const TABLE_HEADERS: &'static [&'static str] = &["EXTERNAL ID", "NAME", "ATTRIBUTES"];
    const CSV_HEADERS: &'static [&'static str] = &["external_id", "external_name", "attributes"];

    fn table_cells(&self) -> Vec<Cell> {
        let attributes = self.attributes.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
        vec![
            Cell::remote(&self.external_id, 40),
            Cell::remote(self.external_name.as_deref().unwrap_or(""), 40),
            Cell::remote(&attributes, 60),
        ]
    }

    fn csv_record(&self) -> Vec<String> {
        vec![
            output::csv_safe(&self.external_id),
            output::csv_safe(self.external_name.as_deref().unwrap_or("")),
            output::csv_safe(&serde_json::Value::Object(self.attributes.clone()).to_string()),
        ]
    }
}

impl Row for Connector {
    const TABLE_HEADERS: &'static [&'static str] = &["SLUG", "NAME", "DESCRIPTION"];
    const CSV_HEADERS: &'static [&'static str] =
        &["slug", "name", "short_description", "supports_multiple_connections"];

    fn table_cells(&self) -> Vec<Cell> {
        vec![Cell::remote(&self.slug, 30), Cell::remote(&self.name, 30), Cell::remote(&self.short_description, 70)]
    }

    fn csv_record(&self) -> Vec<String> {
        vec![
            output::csv_safe(&self.slug),
            output::csv_safe(&self.name),
            output::csv_safe(&self.short_description),
            self.supports_multiple_connections.to_string(),
        ]
    }
}

pub async fn contexts(session: &Session, args: ContextsArgs) -> Result<u8> {
    let target = session.open_target().await?;
    let mut sink = Sink::new::<Context>(args.output.format())?;
    let limit = args.limit.unwrap_or(usize::MAX);
    let mut printed = 0;
    let (client, search) = (&target.client, args.search.as_deref());
    let mut pages = pin!(
        client.pages(|cursor| async move { client.list_contexts(search, cursor.as_deref(), Some(PAGE_SIZE)).await })
    );
    'pages: while let Some(page) = pages.try_next().await? {
        for context in &page.contexts {
            if printed == limit {
                break 'pages;
            }
            sink.push(context)?;
            printed += 1;
        }
    }
    sink.finish("No contexts.")?;
    Ok(EXIT_OK)
}

pub async fn connectors(session: &Session, args: ConnectorsArgs) -> Result<u8> {
    let target = session.open_target().await?;
    let mut sink = Sink::new::<Connector>(args.output.format())?;
    let client = &target.client;
    let mut pages =
        pin!(client.pages(|cursor| async move { client.list_connectors(cursor.as_deref(), Some(PAGE_SIZE)).await }));
    while let Some(page) = pages.try_next().await? {
        for connector in &page.connectors {
            sink.push(connector)?;
        }
    }
    sink.finish("No connectors.")?;
    Ok(EXIT_OK)
}

pub async fn connections(session: &Session, args: ConnectionsArgs) -> Result<u8> {
    let target = session.open_target().await?;
    let request = args.filters.request(args.status, &target);
    let catalog = target.catalog_url().await;
    let mut sink = Sink::new::<ConnectionRow>(args.output.format())?;
    let mut rows: Vec<ConnectionRow> = Vec::new();
    let table = args.output.format() == Format::Table;
    drive_scan(target.client.clone(), request, |page| {
        for connection in &page {
            let row = ConnectionRow::new(connection, catalog.as_deref());
            // Tables are sorted (worst health first); streams keep the server's order.
            if table { rows.push(row) } else { sink.push(&row)? }
        }
        Ok(())
    })
    .await?;
    rows.sort_by(|a, b| {
        b.health.cmp(&a.health).then_with(|| (&a.context, &a.connector).cmp(&(&b.context, &b.connector)))
    });
    for row in &rows {
        sink.push(row)?;
    }
    sink.finish("No connections match.")?;
    Ok(EXIT_OK)
}

/// `connection --json`: the row fields that matter plus the wire connection, whose credential
/// is removed unless `--show-credential`.
#[derive(Serialize)]
struct ConnectionDetail<'a> {
    context: &'a str,
    connector: &'a str,
    health: Health,
    repair_url: Option<String>,
    connection: Connection,
}

pub async fn connection(session: &Session, args: ConnectionArgs) -> Result<u8> {
    let target = session.open_target().await?;
    if args.refresh && target.read_only {
        return Err(ConfigError(format!(
            "refused: {} is read-only (--read-only or read_only = true in the profile), and --refresh changes \
             the connection's tokens",
            target.label()
        ))
        .into());
    }
    let mut connection = target.client.get_connection(&args.context, &args.connector).await?.connection;
    if args.refresh {
        // The forced refresh is by id: the read above picked the connection the command shows.
        connection = target.client.refresh_connection(&connection.id).await?.connection;
    }
    let health = Health::of(Some(&connection));
    let repair_url = target.repair_url(&connection.connector.slug).await;
    let credential =
        connection.authorization.as_ref().and_then(|authorization| authorization.secret().map(str::to_owned));
    if !args.show_credential
        && let Some(authorization) = connection.authorization.as_mut()
    {
        authorization.credential = None;
        authorization.access_token = None;
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let detail =
            ConnectionDetail { context: &args.context, connector: &args.connector, health, repair_url, connection };
        output::write_json_line(&mut out, &detail)?;
        return Ok(EXIT_OK);
    }
    let colour = output::stdout_colour();
    let mut lines: Vec<(&str, Cell)> = vec![
        ("Context", Cell::remote(&args.context, 200)),
        (
            "Connector",
            Cell::local(format!(
                "{} ({})",
                sanitize::for_terminal(&connection.connector.name),
                sanitize::for_terminal(&connection.connector.slug)
            )),
        ),
        // The one id of a connection: the Platform API's and xkit.js's `getConnection({id})`.
        (
            "Connection id",
            Cell::local(format!(
                "{} (the same id in xkit.js: getConnection({{id}}))",
                sanitize::for_terminal_within(&connection.id, 200)
            )),
        ),
        ("Enabled", Cell::local(connection.enabled.to_string())),
        ("Health", Cell::health(health)),
    ];
    let now = chrono::Utc::now();
    if let Some(authorization) = &connection.authorization {
        lines.push(("Status", Cell::remote(authorization.status.as_str(), 100)));
        let optional_fields = [
            ("Label", authorization.display_label.as_deref()),
            ("Error code", authorization.error_code.as_deref()),
            ("Error message", authorization.error_message.as_deref()),
            ("Refresh error", authorization.refresh_error.as_deref()),
        ];
        for (label, value) in optional_fields {
            if let Some(value) = value {
                lines.push((label, Cell::remote(value, 500)));
            }
        }
        let times = [("Expires", authorization.expires_at), ("Last refreshed", authorization.last_refreshed_at)];
        for (label, time) in times {
            if let Some(time) = time {
                lines.push((label, Cell::local(format!("{} ({})", time.to_rfc3339(), relative_time(time, now)))));
            }
        }
    }
    let credential_line = match (&credential, args.show_credential) {
        (None, _) => Cell::local("none"),
        (Some(secret), true) => Cell::remote(secret, MAX_CREDENTIAL_CHARS),
        (Some(_), false) => Cell::local("•••••••• (hidden; --show-credential prints it)"),
    };
    lines.push(("Credential", credential_line));
    if let Some(url) = &repair_url {
        lines.push(("Repair URL", Cell::remote(url, 500)));
    }
    let width = lines.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    for (label, cell) in &lines {
        let label = format!("{label}:");
        write!(out, "{label:width$} ")?;
        cell.write_to(&mut out, colour)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(EXIT_OK)
}
