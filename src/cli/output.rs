//! How headless commands print: aligned tables for people, JSON and CSV for scripts.
//!
//! Tables are coloured only when stdout is a terminal and `NO_COLOR` is unset (anstream's
//! rules), and every remote string in them goes through [`sanitize::for_terminal`]. JSON lists
//! are newline-delimited (one object per line) so that they stream and suit `jq -c`.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use chrono::{DateTime, Utc};
use serde::Serialize;
use unicode_width::UnicodeWidthStr as _;

use crate::humanize::relative_time;
use crate::model::{Connection, Health};
use crate::sanitize;

/// `--json` / `--output` for list commands.
#[derive(Debug, Clone, clap::Args)]
pub struct ListOutput {
    /// Print newline-delimited JSON (one object per line); same as `--output json`.
    #[arg(long, conflicts_with = "output")]
    pub json: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Format::Table)]
    pub output: Format,
}

impl ListOutput {
    pub fn format(&self) -> Format {
        if self.json { Format::Json } else { self.output }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Whether stdout should get colours: a terminal, and `NO_COLOR` unset.
pub fn stdout_colour() -> bool {
    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

/// The colour of a health, the dashboard's too: green active, yellow pending, red error, dim
/// disabled, magenta unknown (the word and symbol always go with it).
pub fn health_style(health: Health) -> Style {
    match health {
        Health::Active => AnsiColor::Green.on_default(),
        Health::Pending => AnsiColor::Yellow.on_default(),
        Health::Error => AnsiColor::Red.on_default().bold(),
        Health::Disabled => AnsiColor::BrightBlack.on_default(),
        Health::Unknown => AnsiColor::Magenta.on_default(),
        Health::NotInstalled => Style::new(),
    }
}

/// Symbol and word, so nothing depends on colour alone.
pub fn health_label(health: Health) -> String {
    format!("{} {}", health.symbol(), health.word())
}

/// One table cell: text (already safe for a terminal) and an optional style.
pub struct Cell {
    text: String,
    style: Style,
}

impl Cell {
    /// A cell holding a remote string: sanitized and cut to `max_chars`.
    pub fn remote(text: &str, max_chars: usize) -> Self {
        Self { text: sanitize::for_terminal_within(text, max_chars), style: Style::new() }
    }

    /// A cell holding text we produced ourselves.
    pub fn local(text: impl Into<String>) -> Self {
        Self { text: text.into(), style: Style::new() }
    }

    pub fn health(health: Health) -> Self {
        Self { text: health_label(health), style: health_style(health) }
    }

    pub fn styled(mut self, style: Style) -> Self {
        self.style = style;
        self
    }

    pub fn write_to(&self, out: &mut impl Write, colour: bool) -> io::Result<()> {
        let style = if colour { self.style } else { Style::new() };
        write!(out, "{style}{}{style:#}", self.text)
    }
}

/// A plain aligned table: a header row and columns padded to their widest cell.
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn new(headers: Vec<&'static str>) -> Self {
        Self { headers, rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.headers.len());
        self.rows.push(row);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn write(&self, out: &mut impl Write, colour: bool) -> io::Result<()> {
        let mut widths: Vec<usize> = self.headers.iter().map(|header| header.width()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.text.width());
            }
        }
        let header_style = if colour { Style::new().bold() } else { Style::new() };
        let headers: Vec<Cell> = self.headers.iter().map(|header| Cell::local(*header).styled(header_style)).collect();
        for row in std::iter::once(&headers).chain(&self.rows) {
            // Trailing empty cells get no padding, so lines carry no trailing blanks.
            let used = row.iter().rposition(|cell| !cell.text.is_empty()).map_or(0, |last| last + 1);
            for (index, (cell, width)) in row.iter().zip(&widths).take(used).enumerate() {
                cell.write_to(out, colour)?;
                if index + 1 < used {
                    write!(out, "{:pad$}  ", "", pad = width - cell.text.width())?;
                }
            }
            writeln!(out)?;
        }
        Ok(())
    }
}

/// Something a list command prints: one table row, one JSON line, one CSV record.
pub trait Row: Serialize {
    const TABLE_HEADERS: &'static [&'static str];
    const CSV_HEADERS: &'static [&'static str];
    fn table_cells(&self) -> Vec<Cell>;
    fn csv_record(&self) -> Vec<String>;
}

/// Where a list goes. JSON and CSV stream row by row; a table waits for every row to align
/// its columns.
pub enum Sink {
    Table { table: Table, out: io::StdoutLock<'static> },
    Json(io::BufWriter<io::StdoutLock<'static>>),
    Csv(Box<csv::Writer<io::StdoutLock<'static>>>),
}

impl Sink {
    pub fn new<R: Row>(format: Format) -> io::Result<Self> {
        let out = io::stdout().lock();
        Ok(match format {
            Format::Table => Sink::Table { table: Table::new(R::TABLE_HEADERS.to_vec()), out },
            Format::Json => Sink::Json(io::BufWriter::new(out)),
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(R::CSV_HEADERS)?;
                Sink::Csv(Box::new(writer))
            }
        })
    }

    pub fn push<R: Row>(&mut self, row: &R) -> io::Result<()> {
        match self {
            Sink::Table { table, .. } => {
                table.push(row.table_cells());
                Ok(())
            }
            Sink::Json(out) => write_json_line(out, row),
            Sink::Csv(writer) => Ok(writer.write_record(row.csv_record())?),
        }
    }

    /// Flushes the output; `empty_note` goes to stderr when a table has no row.
    pub fn finish(self, empty_note: &str) -> io::Result<()> {
        match self {
            Sink::Table { table, mut out } => {
                if table.is_empty() {
                    eprintln!("{empty_note}");
                    return Ok(());
                }
                table.write(&mut out, stdout_colour())?;
                out.flush()
            }
            Sink::Json(mut out) => out.flush(),
            Sink::Csv(mut writer) => writer.flush(),
        }
    }
}

/// One connection as `connections` and `check` print it in JSON and CSV: a flat, documented,
/// stable shape. Never carries a credential.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionRow {
    pub context: String,
    pub context_name: Option<String>,
    pub connector: String,
    pub connector_name: String,
    pub connection_id: String,
    pub enabled: bool,
    pub health: Health,
    /// The authorization status as the server sent it (`None` without an authorization).
    pub status: Option<String>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_refreshed_at: Option<DateTime<Utc>>,
    pub refresh_error: Option<String>,
    pub repair_url: Option<String>,
}

impl ConnectionRow {
    pub fn new(connection: &Connection, catalog_url: Option<&str>) -> Self {
        let authorization = connection.authorization.as_ref();
        let context = connection.context.as_ref();
        Self {
            context: context.map(|context| context.external_id.clone()).unwrap_or_default(),
            context_name: context.and_then(|context| context.external_name.clone()),
            connector: connection.connector.slug.clone(),
            connector_name: connection.connector.name.clone(),
            connection_id: connection.id.clone(),
            enabled: connection.enabled,
            health: Health::of(Some(connection)),
            status: authorization.map(|authorization| authorization.status.as_str().to_owned()),
            error_code: authorization.and_then(|authorization| authorization.error_code.clone()),
            error_message: authorization.and_then(|authorization| authorization.error_message.clone()),
            expires_at: authorization.and_then(|authorization| authorization.expires_at),
            last_refreshed_at: authorization.and_then(|authorization| authorization.last_refreshed_at),
            refresh_error: authorization.and_then(|authorization| authorization.refresh_error.clone()),
            repair_url: catalog_url.map(|base| repair_url(base, &connection.connector.slug)),
        }
    }
}

impl Row for ConnectionRow {
    const TABLE_HEADERS: &'static [&'static str] = &["CONTEXT", "CONNECTOR", "HEALTH", "EXPIRES", "ERROR"];
    const CSV_HEADERS: &'static [&'static str] = &[
        "context",
        "context_name",
        "connector",
        "connector_name",
        "connection_id",
        "enabled",
        "health",
        "status",
        "error_code",
        "error_message",
        "expires_at",
        "last_refreshed_at",
        "refresh_error",
        "repair_url",
    ];

    fn table_cells(&self) -> Vec<Cell> {
        let now = Utc::now();
        let error = match (&self.error_code, &self.error_message, &self.refresh_error) {
            (Some(code), Some(message), _) => format!("{code}: {message}"),
            (Some(text), None, _) | (None, Some(text), _) | (None, None, Some(text)) => text.clone(),
            (None, None, None) => String::new(),
        };
        vec![
            Cell::remote(&self.context, 40),
            Cell::remote(&self.connector, 30),
            Cell::health(self.health),
            Cell::local(self.expires_at.map(|time| relative_time(time, now)).unwrap_or_default()),
            Cell::remote(&error, 80),
        ]
    }

    fn csv_record(&self) -> Vec<String> {
        let text = |value: &Option<String>| value.as_deref().map(csv_safe).unwrap_or_default();
        let time = |value: &Option<DateTime<Utc>>| value.map(|time| time.to_rfc3339()).unwrap_or_default();
        [
            csv_safe(&self.context),
            text(&self.context_name),
            csv_safe(&self.connector),
            csv_safe(&self.connector_name),
            csv_safe(&self.connection_id),
            self.enabled.to_string(),
            self.health.word().replace(' ', "_"),
            text(&self.status),
            text(&self.error_code),
            text(&self.error_message),
            time(&self.expires_at),
            time(&self.last_refreshed_at),
            text(&self.refresh_error),
            text(&self.repair_url),
        ]
        .into()
    }
}

/// The catalog page where a context repairs its connection to a connector.
pub fn repair_url(catalog_base: &str, connector_slug: &str) -> String {
    let mut url = catalog_base.trim_end_matches('/').to_owned();
    url.push_str("/connectors/");
    url.push_str(&url::form_urlencoded::byte_serialize(connector_slug.as_bytes()).collect::<String>());
    url
}

/// CSV files end up on terminals and in spreadsheets: control characters are neutralized like
/// on screen (the csv writer quotes what needs quoting).
pub fn csv_safe(text: &str) -> String {
    sanitize::for_terminal(text)
}

/// Writes one JSON value on its own line.
pub fn write_json_line(out: &mut impl Write, value: &impl Serialize) -> io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_by_display_width_and_sanitize_remote_text() {
        let mut table = Table::new(vec!["NAME", "HEALTH"]);
        table.push(vec![Cell::remote("évil\u{1b}[2J", 40), Cell::health(Health::Error)]);
        table.push(vec![Cell::remote("a", 40), Cell::health(Health::Active)]);
        let mut plain = Vec::new();
        table.write(&mut plain, false).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        assert_eq!(plain, "NAME       HEALTH\névil^[[2J  ✗ error\na          ● active\n");
        let mut coloured = Vec::new();
        table.write(&mut coloured, true).unwrap();
        let coloured = String::from_utf8(coloured).unwrap();
        assert!(coloured.contains("\u{1b}[31m") || coloured.contains("\u{1b}[1m\u{1b}[31m"), "{coloured:?}");
        assert!(!plain.contains('\u{1b}'));
    }

    #[test]
    fn repair_urls_escape_the_slug() {
        assert_eq!(repair_url("https://acme.xkit.co/", "slack"), "https://acme.xkit.co/connectors/slack");
        assert_eq!(repair_url("http://h", "a/b?c"), "http://h/connectors/a%2Fb%3Fc");
    }
}
