//! PostgreSQL's reads of connectors and connections (SQLite's twins: `store/connections.rs` and
//! `store/client_api.rs`): the same statements, results, errors and keyset order, on a pooled
//! client or inside a write's transaction (any [`GenericClient`]).

use chrono::{DateTime, SubsecRound as _, Utc};
use deadpool_postgres::GenericClient;
use secrecy::SecretString;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::model::{Authorization, AuthorizationStatus, Connection, ConnectionFilter, Connector, ContextRef};
use crate::server::store::connections::{CONNECTION_SELECT, CONNECTOR_TEXTS, withhold_credential_unless_active};
use crate::server::store::cursor::{self, Listing, Page, PageRequest, into_page};
use crate::server::store::error::{StoreError, StoreResult};
use crate::server::store::records::{ConnectorOAuth, Credentials};

/// Now, to the second: every time this backend writes is stored as SQLite stores it (RFC 3339
/// to the second), so both backends answer the same times.
pub(super) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// A time as stored: to the second.
pub(super) fn to_second(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(0)
}

const CONNECTOR_COLUMNS: &str =
    "slug, name, short_description, mark_url, about, description, supports_multiple_connections";

/// How [`CONNECTION_SELECT`] joins a connection's authorization.
const AUTHORIZATION_JOIN: &str = "LEFT JOIN authorizations a ON a.connection_seq = c.seq";

/// What the export reads in place of [`CONNECTOR_TEXTS`] (PostgreSQL wants the NULLs typed).
const NO_CONNECTOR_TEXTS: &str = "'', '', NULL::text, NULL::text";

/// A statement's parameter whose type depends on the filter.
type Param = Box<dyn ToSql + Sync + Send>;

/// The row id of a context, or `NotFound` naming it (SQLite: `contexts::row_id`).
pub(super) async fn context_row_id(db: &impl GenericClient, external_id: &str) -> StoreResult<i64> {
    let statement = db.prepare_cached("SELECT id FROM contexts WHERE external_id = $1").await?;
    db.query_opt(&statement, &[&external_id])
        .await?
        .map(|row| row.get(0))
        .ok_or_else(|| StoreError::NotFound(format!("no context with external_id {external_id:?}")))
}

/// Connectors by slug in byte order, SQLite's (`COLLATE "C"`: a database made with another
/// locale would order `Zendesk` and `asana` otherwise); a handful of rows, sorted per request.
pub(super) async fn list_connectors(db: &impl GenericClient, page: &PageRequest) -> StoreResult<Page<Connector>> {
    let after = page.cursor.as_deref().map(|cursor| cursor::decode(Listing::Connectors, cursor)).transpose()?;
    let statement = db
        .prepare_cached(&format!(
            "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE ($1::text IS NULL OR slug COLLATE \"C\" > $1)
             ORDER BY slug COLLATE \"C\" LIMIT $2"
        ))
        .await?;
    let rows = db.query(&statement, &[&after, &limit_of(page.limit + 1)]).await?;
    let items = rows.iter().map(|row| connector_from_row(row, 0)).collect::<Result<Vec<_>, _>>()?;
    Ok(into_page(items, page.limit, |connector| cursor::encode(Listing::Connectors, &connector.slug)))
}

pub(super) async fn connector(db: &impl GenericClient, slug: &str) -> StoreResult<Connector> {
    let statement = db.prepare_cached(&format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE slug = $1")).await?;
    match db.query_opt(&statement, &[&slug]).await? {
        Some(row) => Ok(connector_from_row(&row, 0)?),
        None => Err(StoreError::NotFound(format!("no connector with slug {slug:?}"))),
    }
}

/// The healthiest connection of a context to a connector (Health order, then oldest first).
/// One statement on the hot path; only a miss looks up the context and the connector, to say
/// which of the three is missing.
pub(super) async fn best(
    db: &impl GenericClient,
    external_id: &str,
    slug: &str,
    credentials: Credentials,
) -> StoreResult<Connection> {
    let statement = db
        .prepare_cached(&format!(
            "{CONNECTION_SELECT} WHERE x.external_id = $1 AND c.connector_slug = $2 ORDER BY c.health, c.seq LIMIT 1"
        ))
        .await?;
    if let Some(row) = db.query_opt(&statement, &[&external_id, &slug]).await? {
        return Ok(connection_from_row(&row, credentials, false)?.1);
    }
    context_row_id(db, external_id).await?;
    connector(db, slug).await?;
    Err(StoreError::NotFound(format!("context {external_id:?} has no connection to {slug:?}")))
}

pub(super) async fn by_id(db: &impl GenericClient, id: &str, credentials: Credentials) -> StoreResult<Connection> {
    let statement = db.prepare_cached(&format!("{CONNECTION_SELECT} WHERE c.id = $1")).await?;
    match db.query_opt(&statement, &[&id]).await? {
        Some(row) => Ok(connection_from_row(&row, credentials, true)?.1),
        None => Err(StoreError::NotFound(format!("no connection with id {id:?}"))),
    }
}

pub(super) async fn of_context(
    db: &impl GenericClient,
    external_id: &str,
    page: &PageRequest,
) -> StoreResult<Page<Connection>> {
    let context_id = context_row_id(db, external_id).await?;
    let after = page.cursor.as_deref().map(cursor::decode_seq).transpose()?.unwrap_or(0);
    let statement = db
        .prepare_cached(&format!(
            "{CONNECTION_SELECT} WHERE c.context_id = $1 AND c.enabled AND c.seq > $2 ORDER BY c.seq LIMIT $3"
        ))
        .await?;
    let rows = db.query(&statement, &[&context_id, &after, &limit_of(page.limit + 1)]).await?;
    let rows = rows.iter().map(|row| connection_from_row(row, Credentials::Omit, false)).collect::<Result<_, _>>()?;
    Ok(seq_page(rows, page.limit))
}

/// A context's connection `id`, without its credential; `NotFound` when it belongs to another
/// context (SQLite: `client_api::connection_of_context`).
pub(super) async fn connection_of_context(
    db: &impl GenericClient,
    external_id: &str,
    id: &str,
) -> StoreResult<Connection> {
    let statement = db.prepare_cached(&format!("{CONNECTION_SELECT} WHERE c.id = $1 AND x.external_id = $2")).await?;
    match db.query_opt(&statement, &[&id, &external_id]).await? {
        Some(row) => Ok(connection_from_row(&row, Credentials::Omit, false)?.1),
        None => Err(StoreError::NotFound(format!("no connection with id {id:?}"))),
    }
}

/// The connection holding authorization `authorization_id` of a context to connector `slug`.
pub(super) async fn by_authorization(
    db: &impl GenericClient,
    external_id: &str,
    slug: &str,
    authorization_id: i64,
) -> StoreResult<Connection> {
    let statement = db
        .prepare_cached(&format!(
            "{CONNECTION_SELECT} WHERE a.id = $1 AND x.external_id = $2 AND c.connector_slug = $3"
        ))
        .await?;
    match db.query_opt(&statement, &[&authorization_id, &external_id, &slug]).await? {
        Some(row) => Ok(connection_from_row(&row, Credentials::Omit, false)?.1),
        None => Err(StoreError::NotFound(format!("no authorization {authorization_id} for {slug:?}"))),
    }
}

/// The connector's field that becomes the credential (API-key connectors), `None` for others.
pub(super) async fn credential_field(db: &impl GenericClient, slug: &str) -> StoreResult<Option<String>> {
    let statement = db.prepare_cached("SELECT credential_field FROM connectors WHERE slug = $1").await?;
    match db.query_opt(&statement, &[&slug]).await? {
        Some(row) => Ok(row.get(0)),
        None => Err(StoreError::NotFound(format!("no connector with slug {slug:?}"))),
    }
}

/// A connector's private OAuth settings, `None` when it has none (SQLite:
/// `authorizations::connector_oauth`).
pub(super) async fn connector_oauth(db: &impl GenericClient, slug: &str) -> StoreResult<Option<ConnectorOAuth>> {
    let statement = db
        .prepare_cached(
            "SELECT oauth_authorize_url, oauth_token_url, oauth_client_id, oauth_client_secret, oauth_scopes
             FROM connectors WHERE slug = $1",
        )
        .await?;
    let row = db
        .query_opt(&statement, &[&slug])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no connector with slug {slug:?}")))?;
    let text = |column: usize| row.try_get::<_, Option<String>>(column);
    Ok(match (text(0)?, text(1)?, text(2)?) {
        (Some(authorize_url), Some(token_url), Some(client_id)) => Some(ConnectorOAuth {
            authorize_url,
            token_url,
            client_id,
            client_secret: SecretString::from(text(3)?.unwrap_or_default()),
            scopes: text(4)?.unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
        }),
        _ => None,
    })
}

/// Which columns a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Columns {
    /// Everything a page serves.
    Page,
    /// The export's: the connector's texts left out (its lines do not carry them).
    Export,
}

/// The bulk listing's statement for a filter: `c.seq > $1`, the filter's equalities (each one an
/// index PostgreSQL seeks: `connections_by_health`, `_by_connector_health`, `_by_context`),
/// ordered by seq, `LIMIT` the last parameter. One of a fixed set of texts (which filters are
/// given, never their values), so the statement cache holds at most sixteen per column set.
pub(super) struct ConnectionQuery {
    sql: String,
    values: Vec<Param>,
}

impl ConnectionQuery {
    /// The statement for `filter`; `expiring_within` becomes a deadline now, so every page (or
    /// export chunk) of one walk uses the same one.
    pub(super) fn new(filter: &ConnectionFilter, columns: Columns) -> ConnectionQuery {
        let mut conditions = vec!["c.seq > $1".to_owned()];
        let mut values: Vec<Param> = Vec::new();
        let mut condition = |text: &str, value: Param| {
            values.push(value);
            conditions.push(text.replace('?', &format!("${}", values.len() + 1)));
        };
        if let Some(health) = filter.health {
            condition("c.health = ?", Box::new(health.rank() as i64));
        }
        if let Some(slug) = &filter.connector {
            condition("c.connector_slug = ?", Box::new(slug.clone()));
        }
        if let Some(external_id) = &filter.context {
            condition("c.context_id = (SELECT id FROM contexts WHERE external_id = ?)", Box::new(external_id.clone()));
        }
        if let Some(within) = filter.expiring_within {
            condition("a.expires_at IS NOT NULL AND a.expires_at <= ?", Box::new(expiry_deadline(within)));
        }
        let select = match columns {
            Columns::Page => CONNECTION_SELECT.to_owned(),
            Columns::Export => CONNECTION_SELECT.replacen(CONNECTOR_TEXTS, NO_CONNECTOR_TEXTS, 1),
        };
        // The same rows, but the planner's merge join then starts the authorizations at the
        // page's first seq instead of walking them from the first one (a chunk at seq 50,000
        // read 50,000 index entries for its 1,000 rows).
        let select = select.replacen(AUTHORIZATION_JOIN, &format!("{AUTHORIZATION_JOIN} AND a.connection_seq > $1"), 1);
        let sql = format!("{select} WHERE {} ORDER BY c.seq LIMIT ${}", conditions.join(" AND "), values.len() + 2);
        ConnectionQuery { sql, values }
    }

    /// At most `limit` rows after seq `after`, as `(seq, connection)`, without credentials.
    pub(super) async fn rows(
        &self,
        db: &impl GenericClient,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<(i64, Connection)>> {
        let statement = db.prepare_cached(&self.sql).await?;
        let limit = limit_of(limit);
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![&after];
        params.extend(self.values.iter().map(|value| value.as_ref() as &(dyn ToSql + Sync)));
        params.push(&limit);
        let rows = db.query(&statement, &params).await?;
        Ok(rows.iter().map(|row| connection_from_row(row, Credentials::Omit, true)).collect::<Result<_, _>>()?)
    }

    /// One page of the bulk listing.
    pub(super) async fn page(&self, db: &impl GenericClient, page: &PageRequest) -> StoreResult<Page<Connection>> {
        let after = page.cursor.as_deref().map(cursor::decode_seq).transpose()?.unwrap_or(0);
        Ok(seq_page(self.rows(db, after, page.limit + 1).await?, page.limit))
    }
}

/// Now plus `within`, at most SQLite's last storable second (the same bound on both backends).
fn expiry_deadline(within: std::time::Duration) -> DateTime<Utc> {
    let last =
        DateTime::parse_from_rfc3339("9999-12-31T23:59:59Z").map(|at| at.with_timezone(&Utc)).unwrap_or_default();
    chrono::TimeDelta::from_std(within)
        .ok()
        .and_then(|within| Utc::now().checked_add_signed(within))
        .map_or(last, |deadline| to_second(deadline.min(last)))
}

/// A row count as the `LIMIT` parameter.
pub(super) fn limit_of(count: usize) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

fn seq_page(rows: Vec<(i64, Connection)>, limit: usize) -> Page<Connection> {
    let page = into_page(rows, limit, |(seq, _)| cursor::encode(Listing::Connections, &seq.to_string()));
    Page { items: page.items.into_iter().map(|(_, connection)| connection).collect(), next_cursor: page.next_cursor }
}

fn connector_from_row(row: &Row, first: usize) -> Result<Connector, tokio_postgres::Error> {
    Ok(Connector {
        slug: row.try_get(first)?,
        name: row.try_get(first + 1)?,
        short_description: row.try_get(first + 2)?,
        mark_url: row.try_get(first + 3)?,
        about: row.try_get(first + 4)?,
        description: row.try_get(first + 5)?,
        supports_multiple_connections: row.try_get(first + 6)?,
    })
}

/// Maps a [`CONNECTION_SELECT`] row to `(seq, connection)` (SQLite: `connection_from_row`).
fn connection_from_row(
    row: &Row,
    credentials: Credentials,
    with_context: bool,
) -> Result<(i64, Connection), tokio_postgres::Error> {
    let authorization_id: Option<i64> = row.try_get(10)?;
    let authorization = match authorization_id {
        None => None,
        Some(id) => {
            let status = AuthorizationStatus::parse(row.try_get::<_, &str>(11)?);
            let credential = match credentials {
                Credentials::Include => row.try_get::<_, Option<String>>(15)?.filter(|token| !token.is_empty()),
                Credentials::Omit => None,
            };
            Some(Authorization {
                id: Some(id.to_string()),
                status,
                display_label: row.try_get(12)?,
                error_code: row.try_get(13)?,
                error_message: row.try_get(14)?,
                access_token: credential.clone(),
                credential,
                authorize_url: row.try_get(16)?,
                state: row.try_get(17)?,
                authorizer: None,
                expires_at: row.try_get(18)?,
                last_refreshed_at: row.try_get(19)?,
                refresh_error: row.try_get(20)?,
                status_changed_at: row.try_get(23)?,
            })
        }
    };
    let context = if with_context {
        Some(ContextRef { external_id: row.try_get(21)?, external_name: row.try_get(22)? })
    } else {
        None
    };
    let mut connection = Connection {
        id: row.try_get(1)?,
        enabled: row.try_get(2)?,
        connector: connector_from_row(row, 3)?,
        authorization,
        context,
    };
    withhold_credential_unless_active(&mut connection);
    Ok((row.try_get(0)?, connection))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Health;

    #[test]
    fn the_export_statement_skips_the_connector_texts() {
        // The export edits the shared statement by text: it must still find what it replaces.
        let page = ConnectionQuery::new(&ConnectionFilter::default(), Columns::Page);
        let export = ConnectionQuery::new(&ConnectionFilter::default(), Columns::Export);
        assert_ne!(export.sql, page.sql);
        assert!(export.sql.contains("k.slug, k.name, '', '', NULL::text, NULL::text, k.supports_multiple_connections"));
        for listing in [page, export] {
            assert!(listing.sql.contains("ON a.connection_seq = c.seq AND a.connection_seq > $1"), "{}", listing.sql);
        }
    }

    #[test]
    fn filter_values_are_numbered_parameters_and_the_limit_comes_last() {
        let filter = ConnectionFilter {
            health: Some(Health::Active),
            connector: Some("crm".into()),
            context: Some("u1".into()),
            expiring_within: Some(std::time::Duration::from_secs(60)),
        };
        let query = ConnectionQuery::new(&filter, Columns::Page);
        assert_eq!(query.values.len(), 4);
        for (number, expected) in [(2, "c.health = $2"), (3, "c.connector_slug = $3"), (6, "LIMIT $6")] {
            assert!(query.sql.contains(expected), "${number}: {}", query.sql);
        }
        assert!(query.sql.contains("external_id = $4") && query.sql.contains("a.expires_at <= $5"), "{}", query.sql);
        assert!(ConnectionQuery::new(&ConnectionFilter::default(), Columns::Page).sql.ends_with("LIMIT $2"));
    }
}
