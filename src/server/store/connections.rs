//! Connectors and connections: reads with or without credentials, keyset listings, soft removal.

use chrono::Datelike as _;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection as Db, OptionalExtension, Row, Transaction, params, params_from_iter};
use secrecy::ExposeSecret;

use super::contexts;
use super::cursor::{self, Listing, Page, PageRequest, into_page};
use super::error::{StoreError, StoreResult};
use super::records::{Credentials, NewConnection};
use super::sql::{derived_health, now_text, parse_timestamp, timestamp_text};
use crate::model::{Authorization, AuthorizationStatus, Connection, ConnectionFilter, Connector, ContextRef, Health};

const CONNECTOR_COLUMNS: &str =
    "slug, name, short_description, mark_url, about, description, supports_multiple_connections";

/// The columns [`connection_from_row`] (and PostgreSQL's twin of it) reads, in order; the
/// statement is the same on both backends. `access_token` is the only secret selected; the
/// refresh token is never read by a route.
pub(super) const CONNECTION_SELECT: &str = "SELECT c.seq, c.id, c.enabled,
        k.slug, k.name, k.short_description, k.mark_url, k.about, k.description, k.supports_multiple_connections,
        a.id, a.status, a.display_label, a.error_code, a.error_message, a.access_token, a.authorize_url, a.state,
        a.expires_at, a.last_refreshed_at, a.refresh_error,
        x.external_id, x.external_name, a.status_changed_at
    FROM connections c
    JOIN connectors k ON k.slug = c.connector_slug
    JOIN contexts x ON x.id = c.context_id
    LEFT JOIN authorizations a ON a.connection_seq = c.seq";

/// The connector's texts in [`CONNECTION_SELECT`], and what the export reads in their place:
/// its lines name the connector by slug and name only, and the texts cost four strings (about
/// 300 bytes) a row.
pub(super) const CONNECTOR_TEXTS: &str = "k.short_description, k.mark_url, k.about, k.description";
const NO_CONNECTOR_TEXTS: &str = "'', '', NULL, NULL";

pub(super) fn list_connectors(db: &Db, page: &PageRequest) -> StoreResult<Page<Connector>> {
    let after = page.cursor.as_deref().map(|cursor| cursor::decode(Listing::Connectors, cursor)).transpose()?;
    let mut statement = db.prepare_cached(&format!(
        "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE (?1 IS NULL OR slug > ?1) ORDER BY slug LIMIT ?2"
    ))?;
    let items = statement
        .query_map(params![after, (page.limit + 1) as i64], |row| connector_from_row(row, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(into_page(items, page.limit, |connector| cursor::encode(Listing::Connectors, &connector.slug)))
}

pub(super) fn connector(db: &Db, slug: &str) -> StoreResult<Connector> {
    let mut statement = db.prepare_cached(&format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE slug = ?1"))?;
    statement
        .query_row([slug], |row| connector_from_row(row, 0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no connector with slug {slug:?}")))
}

/// The healthiest connection of a context to a connector (Health order, then oldest first).
///
/// One statement on the hot path (the most frequent read of the API); only a miss looks up
/// the context and the connector, to say which of the three is missing.
pub(super) fn best(db: &Db, external_id: &str, slug: &str, credentials: Credentials) -> StoreResult<Connection> {
    let mut statement = db.prepare_cached(&format!(
        "{CONNECTION_SELECT} WHERE x.external_id = ?1 AND c.connector_slug = ?2 ORDER BY c.health, c.seq LIMIT 1"
    ))?;
    let found = statement
        .query_row(params![external_id, slug], |row| connection_from_row(row, credentials, false))
        .optional()?;
    match found {
        Some((_, connection)) => Ok(connection),
        None => {
            contexts::row_id(db, external_id)?;
            connector(db, slug)?;
            Err(StoreError::NotFound(format!("context {external_id:?} has no connection to {slug:?}")))
        }
    }
}

pub(super) fn by_id(db: &Db, id: &str, credentials: Credentials) -> StoreResult<Connection> {
    let mut statement = db.prepare_cached(&format!("{CONNECTION_SELECT} WHERE c.id = ?1"))?;
    statement
        .query_row([id], |row| connection_from_row(row, credentials, true))
        .optional()?
        .map(|(_, connection)| connection)
        .ok_or_else(|| StoreError::NotFound(format!("no connection with id {id:?}")))
}

pub(super) fn of_context(db: &Db, external_id: &str, page: &PageRequest) -> StoreResult<Page<Connection>> {
    let context_id = contexts::row_id(db, external_id)?;
    let after = page.cursor.as_deref().map(cursor::decode_seq).transpose()?.unwrap_or(0);
    let mut statement = db.prepare_cached(&format!(
        "{CONNECTION_SELECT} WHERE c.context_id = ?1 AND c.enabled = 1 AND c.seq > ?2 ORDER BY c.seq LIMIT ?3"
    ))?;
    let rows = statement
        .query_map(params![context_id, after, (page.limit + 1) as i64], |row| {
            connection_from_row(row, Credentials::Omit, false)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(seq_page(rows, page.limit))
}

pub(super) fn list(db: &Db, filter: &ConnectionFilter, page: &PageRequest) -> StoreResult<Page<Connection>> {
    let after = page.cursor.as_deref().map(cursor::decode_seq).transpose()?.unwrap_or(0);
    let (sql, mut values) = filtered(filter, after);
    values.push(SqlValue::Integer((page.limit + 1) as i64));
    let mut statement = db.prepare_cached(&format!("{sql} LIMIT ?"))?;
    let rows = statement
        .query_map(params_from_iter(values), |row| connection_from_row(row, Credentials::Omit, true))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(seq_page(rows, page.limit))
}

/// Appends one connection's line (the route's wire shape, its newline included) to a chunk. The
/// connection's connector has its slug and name only.
pub type LineEncoder = fn(&Connection, &mut Vec<u8>) -> serde_json::Result<()>;

/// Every connection `filter` selects, in listing order, encoded by `encode` and handed to
/// `deliver` `chunk` rows at a time from one statement (one read transaction: a consistent
/// snapshot), so memory holds one chunk of lines whatever the result's size. Stops early,
/// without error, when `deliver` returns false.
pub(super) fn export(
    db: &Db,
    filter: &ConnectionFilter,
    chunk: usize,
    encode: LineEncoder,
    mut deliver: impl FnMut(Vec<u8>) -> bool,
) -> StoreResult<()> {
    let (sql, values) = filtered(filter, 0);
    let mut statement = db.prepare(&sql.replacen(CONNECTOR_TEXTS, NO_CONNECTOR_TEXTS, 1))?;
    let mut rows = statement.query(params_from_iter(values))?;
    let mut lines = Vec::new();
    let mut in_chunk = 0;
    while let Some(row) = rows.next()? {
        let (_, connection) = connection_from_row(row, Credentials::Omit, true)?;
        encode(&connection, &mut lines).map_err(anyhow::Error::from)?;
        in_chunk += 1;
        if in_chunk == chunk {
            // The next chunk is about as long as this one: one allocation each.
            let capacity = lines.len() + lines.len() / 8;
            if !deliver(std::mem::replace(&mut lines, Vec::with_capacity(capacity))) {
                return Ok(());
            }
            in_chunk = 0;
        }
    }
    if !lines.is_empty() {
        deliver(lines);
    }
    Ok(())
}

/// The bulk listing's statement for `filter`, after seq `after`, ordered by seq (no limit).
/// Each filter is one equality SQLite seeks an index with (`connections_by_health`,
/// `_by_connector_health`, `_by_context`; query plans in BENCHMARKS.md).
fn filtered(filter: &ConnectionFilter, after: i64) -> (String, Vec<SqlValue>) {
    let mut conditions = vec!["c.seq > ?".to_owned()];
    let mut values = vec![SqlValue::Integer(after)];
    if let Some(health) = filter.health {
        conditions.push("c.health = ?".into());
        values.push(SqlValue::Integer(health.rank() as i64));
    }
    if let Some(slug) = &filter.connector {
        conditions.push("c.connector_slug = ?".into());
        values.push(SqlValue::Text(slug.clone()));
    }
    if let Some(external_id) = &filter.context {
        conditions.push("c.context_id = (SELECT id FROM contexts WHERE external_id = ?)".into());
        values.push(SqlValue::Text(external_id.clone()));
    }
    if let Some(within) = filter.expiring_within {
        // Stored expiries are RFC 3339 in UTC to the second, so text order is time order.
        let deadline = chrono::TimeDelta::from_std(within)
            .ok()
            .and_then(|within| chrono::Utc::now().checked_add_signed(within))
            .filter(|deadline| deadline.year() <= 9999)
            .map_or_else(|| "9999-12-31T23:59:59Z".to_owned(), timestamp_text);
        conditions.push("a.expires_at IS NOT NULL AND a.expires_at <= ?".into());
        values.push(SqlValue::Text(deadline));
    }
    (format!("{CONNECTION_SELECT} WHERE {} ORDER BY c.seq", conditions.join(" AND ")), values)
}

pub(super) fn disable(tx: &Transaction<'_>, external_id: &str, slug: &str) -> StoreResult<Connection> {
    let context_id = contexts::row_id(tx, external_id)?;
    let changed = tx
        .prepare_cached(
            "UPDATE connections SET enabled = 0, health = ?3, updated_at = ?4
             WHERE context_id = ?1 AND connector_slug = ?2",
        )?
        .execute(params![context_id, slug, Health::Disabled.rank(), now_text()])?;
    if changed == 0 {
        connector(tx, slug)?;
        return Err(StoreError::NotFound(format!("context {external_id:?} has no connection to {slug:?}")));
    }
    best(tx, external_id, slug, Credentials::Omit)
}

/// Inserts a connection (and its authorization) into context row `context_id` unless its id
/// exists; true when inserted.
pub(super) fn insert_if_absent(tx: &Transaction<'_>, connection: &NewConnection, context_id: i64) -> StoreResult<bool> {
    let authorization = connection.authorization.as_ref();
    let health = derived_health(connection.enabled, authorization.map(|authorization| &authorization.status));
    let now = now_text();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO connections (id, context_id, connector_slug, enabled, health, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            connection.id,
            context_id,
            connection.connector_slug,
            connection.enabled,
            health.rank(),
            now
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    if let Some(authorization) = authorization {
        let seq = tx.last_insert_rowid();
        tx.prepare_cached(
            "INSERT INTO authorizations (connection_seq, status, display_label, error_code, error_message,
                 access_token, refresh_token, authorize_url, state, expires_at, last_refreshed_at, refresh_error,
                 updated_at, status_changed_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
        )?
        .execute(params![
            seq,
            authorization.status.as_str(),
            authorization.display_label,
            authorization.error_code,
            authorization.error_message,
            authorization.access_token.as_ref().map(|token| token.expose_secret()),
            authorization.refresh_token.as_ref().map(|token| token.expose_secret()),
            authorization.authorize_url,
            authorization.state,
            authorization.expires_at.map(timestamp_text),
            authorization.last_refreshed_at.map(timestamp_text),
            authorization.refresh_error,
            now,
        ])?;
    }
    Ok(true)
}

fn seq_page(rows: Vec<(i64, Connection)>, limit: usize) -> Page<Connection> {
    let page = into_page(rows, limit, |(seq, _)| cursor::encode(Listing::Connections, &seq.to_string()));
    Page { items: page.items.into_iter().map(|(_, connection)| connection).collect(), next_cursor: page.next_cursor }
}

fn connector_from_row(row: &Row<'_>, first: usize) -> rusqlite::Result<Connector> {
    Ok(Connector {
        slug: row.get(first)?,
        name: row.get(first + 1)?,
        short_description: row.get(first + 2)?,
        mark_url: row.get(first + 3)?,
        about: row.get(first + 4)?,
        description: row.get(first + 5)?,
        supports_multiple_connections: row.get(first + 6)?,
    })
}

/// Maps a [`CONNECTION_SELECT`] row to `(seq, connection)`.
pub(super) fn connection_from_row(
    row: &Row<'_>,
    credentials: Credentials,
    with_context: bool,
) -> rusqlite::Result<(i64, Connection)> {
    let authorization_id: Option<i64> = row.get(10)?;
    let authorization = match authorization_id {
        None => None,
        Some(id) => {
            let status = AuthorizationStatus::parse(&row.get::<_, String>(11)?);
            let credential = match credentials {
                Credentials::Include => row.get::<_, Option<String>>(15)?.filter(|token| !token.is_empty()),
                Credentials::Omit => None,
            };
            Some(Authorization {
                id: Some(id.to_string()),
                status,
                display_label: row.get(12)?,
                error_code: row.get(13)?,
                error_message: row.get(14)?,
                access_token: credential.clone(),
                credential,
                authorize_url: row.get(16)?,
                state: row.get(17)?,
                authorizer: None,
                expires_at: parse_timestamp(row.get(18)?),
                last_refreshed_at: parse_timestamp(row.get(19)?),
                refresh_error: row.get(20)?,
                status_changed_at: parse_timestamp(row.get(23)?),
            })
        }
    };
    let context =
        if with_context { Some(ContextRef { external_id: row.get(21)?, external_name: row.get(22)? }) } else { None };
    let mut connection = Connection {
        id: row.get(1)?,
        enabled: row.get(2)?,
        connector: connector_from_row(row, 3)?,
        authorization,
        context,
    };
    withhold_credential_unless_active(&mut connection);
    Ok((row.get(0)?, connection))
}

/// A credential is only ever served while the connection is healthy (enabled and active): both
/// backends pass every connection they read through this.
pub(super) fn withhold_credential_unless_active(connection: &mut Connection) {
    if Health::of(Some(connection)) != Health::Active
        && let Some(authorization) = connection.authorization.as_mut()
    {
        authorization.credential = None;
        authorization.access_token = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_statement_skips_the_connector_texts() {
        // The export edits the shared statement by text: it must still find what it replaces.
        let (sql, _) = filtered(&ConnectionFilter::default(), 0);
        let exported = sql.replacen(CONNECTOR_TEXTS, NO_CONNECTOR_TEXTS, 1);
        assert_ne!(exported, sql);
        assert!(exported.contains("k.slug, k.name, '', '', NULL, NULL, k.supports_multiple_connections"));
    }
}
