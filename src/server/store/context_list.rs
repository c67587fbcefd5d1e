//! `GET /contexts`: contexts filtered by health, connector and search, in one of three keyset
//! orders, each served by an index (`EXPLAIN QUERY PLAN` of each in BENCHMARKS.md).
//!
//! The health and connection count of a context are counters (`store/counters.rs`), so
//! filtering and sorting by them reads an index instead of the connections.

use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection as Db, Row, params_from_iter};

use super::contexts;
use super::cursor::{self, Listing, Page, PageRequest, into_page};
use super::error::{StoreError, StoreResult};
use crate::model::{Context, Health};

/// The orders of the contexts listing; every one ends with `external_id`, so keys are unique.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextSort {
    #[default]
    ExternalId,
    /// By the context's most severe connection (`Health::severity`), errors last ascending.
    Health,
    Connections,
}

impl ContextSort {
    pub const NAMES: [&str; 3] = ["external_id", "health", "connections"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "external_id" => Some(ContextSort::ExternalId),
            "health" => Some(ContextSort::Health),
            "connections" => Some(ContextSort::Connections),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        Self::NAMES[self as usize]
    }

    /// The counter column sorted on before `external_id`, if any.
    pub(super) fn column(self) -> Option<&'static str> {
        match self {
            ContextSort::ExternalId => None,
            ContextSort::Health => Some("severity"),
            ContextSort::Connections => Some("connection_count"),
        }
    }
}

/// What `GET /contexts` asks for; every field narrows the listing.
#[derive(Debug, Clone, Default)]
pub struct ContextQuery {
    /// A case-insensitive (ASCII) substring of the `external_id` or the name.
    pub search: Option<String>,
    /// The context's health (its most severe connection); `NotInstalled`: no connection.
    pub health: Option<Health>,
    /// Only contexts with a connection (enabled or not) to this connector.
    pub connector: Option<String>,
    pub sort: ContextSort,
    pub descending: bool,
}

impl ContextQuery {
    /// The order every listing used before sorts existed keeps its cursor format.
    fn plain_order(&self) -> bool {
        self.sort == ContextSort::ExternalId && !self.descending
    }

    fn order_tag(&self) -> String {
        format!("{}:{}", self.sort.name(), if self.descending { "desc" } else { "asc" })
    }
}

/// Where a page starts: the last row's sort value (for counter orders) and `external_id`.
pub(super) struct After {
    pub(super) value: i64,
    pub(super) external_id: String,
}

pub(super) fn decode_after(query: &ContextQuery, cursor: &str) -> StoreResult<After> {
    if query.plain_order() {
        return Ok(After { value: 0, external_id: cursor::decode(Listing::Contexts, cursor)? });
    }
    let invalid = || StoreError::Invalid("invalid cursor (or one of another sort)".into());
    let key = cursor::decode(Listing::SortedContexts, cursor)?;
    let mut parts = key.splitn(4, ':');
    let (Some(sort), Some(order), Some(value), Some(external_id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    if format!("{sort}:{order}") != query.order_tag() {
        return Err(invalid());
    }
    Ok(After { value: value.parse().map_err(|_| invalid())?, external_id: external_id.to_owned() })
}

pub(super) fn encode_after(query: &ContextQuery, value: i64, external_id: &str) -> String {
    if query.plain_order() {
        cursor::encode(Listing::Contexts, external_id)
    } else {
        cursor::encode(Listing::SortedContexts, &format!("{}:{value}:{external_id}", query.order_tag()))
    }
}

pub(super) fn list(db: &Db, query: &ContextQuery, page: &PageRequest) -> StoreResult<Page<Context>> {
    let after = page.cursor.as_deref().map(|cursor| decode_after(query, cursor)).transpose()?;
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(health) = query.health {
        conditions.push("severity = ?".to_owned());
        values.push(SqlValue::Integer(health.severity().into()));
    }
    if let Some(slug) = &query.connector {
        conditions
            .push("EXISTS (SELECT 1 FROM connections c WHERE c.context_id = x.id AND c.connector_slug = ?)".into());
        values.push(SqlValue::Text(slug.clone()));
    }
    if let Some(search) = query.search.as_deref().filter(|search| !search.is_empty()) {
        conditions.push("(external_id LIKE ? ESCAPE '\\' OR external_name LIKE ? ESCAPE '\\')".into());
        let pattern = format!("%{}%", escape_like(search));
        values.extend([SqlValue::Text(pattern.clone()), SqlValue::Text(pattern)]);
    }
    // Keys compare as row values, so that SQLite seeks the order's index to the cursor.
    let direction = if query.descending { "DESC" } else { "ASC" };
    let beyond = if query.descending { "<" } else { ">" };
    let (key, order) = match query.sort.column() {
        None => ("external_id".to_owned(), format!("external_id {direction}")),
        Some(column) => (format!("({column}, external_id)"), format!("{column} {direction}, external_id {direction}")),
    };
    // Under a status filter every row has the same severity: the health order is the id order,
    // and keying on the id alone lets SQLite seek (severity = ? AND external_id > ?).
    let key_column = query.sort.column().filter(|_| !(query.health.is_some() && query.sort == ContextSort::Health));
    match (&after, key_column) {
        (Some(after), None) => {
            conditions.push(format!("external_id {beyond} ?"));
            values.push(SqlValue::Text(after.external_id.clone()));
        }
        (Some(after), Some(_)) => {
            conditions.push(format!("{key} {beyond} (?, ?)"));
            values.extend([SqlValue::Integer(after.value), SqlValue::Text(after.external_id.clone())]);
        }
        (None, _) => {}
    }
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    values.push(SqlValue::Integer((page.limit + 1) as i64));
    let sql = format!(
        "SELECT external_id, external_name, attributes, severity, connection_count FROM contexts x {filter}
         ORDER BY {order} LIMIT ?"
    );
    let sort_column = query.sort.column();
    let rows = db
        .prepare_cached(&sql)?
        .query_map(params_from_iter(values), |row| listed_from_row(row, sort_column))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let page = into_page(rows, page.limit, |(value, context)| encode_after(query, *value, &context.external_id));
    Ok(Page { items: page.items.into_iter().map(|(_, context)| context).collect(), next_cursor: page.next_cursor })
}

/// A listed context with its counters, and the value its order sorts on.
fn listed_from_row(row: &Row<'_>, sort_column: Option<&str>) -> rusqlite::Result<(i64, Context)> {
    let mut context = contexts::from_row(row)?;
    let severity: i64 = row.get(3)?;
    let count: i64 = row.get(4)?;
    context.health = u8::try_from(severity).ok().filter(|severity| *severity > 0).and_then(Health::of_severity);
    context.connection_count = Some(count.max(0) as u64);
    let value = match sort_column {
        Some("severity") => severity,
        Some(_) => count,
        None => 0,
    };
    Ok((value, context))
}

pub(super) fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        if matches!(character, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(character);
    }
    escaped
}
