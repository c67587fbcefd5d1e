//! Contexts on PostgreSQL: upsert, rename, read, and the `GET /contexts` listing, with the
//! semantics of SQLite's `store/contexts.rs` and `store/context_list.rs` (same merges, errors,
//! orders and cursors).
//!
//! SQLite reads then writes a context under its one writer; here two nodes may upsert or rename
//! the same context at once, so the read locks the row (`SELECT ... FOR UPDATE`), a new context
//! is inserted with `ON CONFLICT DO NOTHING` (which waits for a concurrent insert of the same
//! `external_id` and then finds it), and a rename that loses a race to the same new id gets the
//! same `Conflict` as one that finds it taken.

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::{Map, Value};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::model::{Context, Health};
use crate::server::store::context_list::{self, ContextQuery, ContextSort};
use crate::server::store::contexts::merge;
use crate::server::store::cursor::{Page, PageRequest, into_page};
use crate::server::store::error::{StoreError, StoreResult};

const SELECT_CONTEXT: &str = "SELECT external_id, external_name, attributes FROM contexts WHERE external_id = $1";

/// The context `external_id` (its row locked until the transaction ends with `lock`).
pub(super) async fn get(db: &impl GenericClient, external_id: &str, lock: bool) -> StoreResult<Context> {
    let statement = if lock {
        db.prepare_cached(&format!("{SELECT_CONTEXT} FOR UPDATE")).await?
    } else {
        db.prepare_cached(SELECT_CONTEXT).await?
    };
    db.query_opt(&statement, &[&external_id])
        .await?
        .map(|row| from_row(&row))
        .ok_or_else(|| StoreError::NotFound(format!("no context with external_id {external_id:?}")))
}

pub(super) async fn upsert(tx: &Transaction<'_>, context: &Context) -> StoreResult<Context> {
    let stored = match get(tx, &context.external_id, true).await {
        Ok(stored) => stored,
        Err(StoreError::NotFound(_)) => {
            if insert_if_absent(tx, context).await? {
                return Ok(context.clone());
            }
            // Another node's transaction inserted it and committed (the insert waited for it).
            get(tx, &context.external_id, true).await?
        }
        Err(error) => return Err(error),
    };
    let merged = merge(stored, context);
    write_fields(tx, &context.external_id, &merged).await?;
    Ok(merged)
}

pub(super) async fn update(tx: &Transaction<'_>, external_id: &str, update: &Context) -> StoreResult<Context> {
    let stored = get(tx, external_id, true).await?;
    let taken = || StoreError::Conflict(format!("a context with external_id {:?} already exists", update.external_id));
    if update.external_id != external_id {
        let exists = tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM contexts WHERE external_id = $1)").await?;
        if tx.query_one(&exists, &[&update.external_id]).await?.get(0) {
            return Err(taken());
        }
    }
    let merged = merge(stored, update);
    match write_fields(tx, external_id, &merged).await {
        // Renamed to the same new id by another node since the check.
        Err(StoreError::Conflict(_)) => Err(taken()),
        written => written.map(|()| merged),
    }
}

/// Inserts a context unless one with its `external_id` exists; true when inserted.
async fn insert_if_absent(tx: &Transaction<'_>, context: &Context) -> StoreResult<bool> {
    let statement = tx
        .prepare_cached(
            "INSERT INTO contexts (external_id, external_name, attributes, created_at, updated_at)
             VALUES ($1, $2, $3, xkit_now(), xkit_now()) ON CONFLICT (external_id) DO NOTHING",
        )
        .await?;
    let attributes = Value::Object(context.attributes.clone());
    Ok(tx.execute(&statement, &[&context.external_id, &context.external_name, &attributes]).await? == 1)
}

async fn write_fields(tx: &Transaction<'_>, external_id: &str, context: &Context) -> StoreResult<()> {
    let statement = tx
        .prepare_cached(
            "UPDATE contexts SET external_id = $2, external_name = $3, attributes = $4, updated_at = xkit_now()
             WHERE external_id = $1",
        )
        .await?;
    let attributes = Value::Object(context.attributes.clone());
    tx.execute(&statement, &[&external_id, &context.external_id, &context.external_name, &attributes]).await?;
    Ok(())
}

fn from_row(row: &Row) -> Context {
    Context {
        external_id: row.get(0),
        external_name: row.get(1),
        // Written by this module from a JSON object; anything else degrades to no attributes.
        attributes: match row.get::<_, Value>(2) {
            Value::Object(attributes) => attributes,
            _ => Map::new(),
        },
        ..Default::default()
    }
}

/// ASCII upper case to lower case, as SQLite's `LIKE` compares (PostgreSQL's `ILIKE` would
/// also fold other letters, as the database's locale says).
const ASCII_LOWER: &str = "translate({}, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')";

/// `GET /contexts`: SQLite's `context_list::list`, on the same indexes (`contexts_by_severity`,
/// `contexts_by_connection_count`, the unique `external_id`), with the same cursors.
pub(super) async fn list(
    db: &impl GenericClient,
    query: &ContextQuery,
    page: &PageRequest,
) -> StoreResult<Page<Context>> {
    let after = page.cursor.as_deref().map(|cursor| context_list::decode_after(query, cursor)).transpose()?;
    let mut conditions: Vec<String> = Vec::new();
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    let mut bind = |value: Box<dyn ToSql + Sync + Send>| {
        values.push(value);
        format!("${}", values.len())
    };
    if let Some(health) = query.health {
        conditions.push(format!("severity = {}", bind(Box::new(i64::from(health.severity())))));
    }
    if let Some(slug) = &query.connector {
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM connections c WHERE c.context_id = x.id AND c.connector_slug = {})",
            bind(Box::new(slug.clone()))
        ));
    }
    if let Some(search) = query.search.as_deref().filter(|search| !search.is_empty()) {
        let pattern = bind(Box::new(format!("%{}%", context_list::escape_like(&search.to_ascii_lowercase()))));
        conditions.push(format!(
            "({} LIKE {pattern} ESCAPE '\\' OR {} LIKE {pattern} ESCAPE '\\')",
            ASCII_LOWER.replace("{}", "external_id"),
            ASCII_LOWER.replace("{}", "external_name"),
        ));
    }
    let direction = if query.descending { "DESC" } else { "ASC" };
    let beyond = if query.descending { "<" } else { ">" };
    let order = match query.sort.column() {
        None => format!("external_id {direction}"),
        Some(column) => format!("{column} {direction}, external_id {direction}"),
    };
    // Under a status filter every row has the same severity: the health order is the id order.
    let key_column = query.sort.column().filter(|_| !(query.health.is_some() && query.sort == ContextSort::Health));
    match (&after, key_column) {
        (Some(after), None) => {
            conditions.push(format!("external_id {beyond} {}", bind(Box::new(after.external_id.clone()))));
        }
        (Some(after), Some(column)) => {
            // A row comparison: PostgreSQL seeks the order's index to the cursor.
            let value = bind(Box::new(after.value));
            let external_id = bind(Box::new(after.external_id.clone()));
            conditions.push(format!("({column}, external_id) {beyond} ({value}, {external_id})"));
        }
        (None, _) => {}
    }
    let limit = bind(Box::new((page.limit + 1) as i64));
    let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let sql = format!(
        "SELECT external_id, external_name, attributes, severity, connection_count FROM contexts x {filter}
         ORDER BY {order} LIMIT {limit}"
    );
    let statement = db.prepare_cached(&sql).await?;
    let parameters: Vec<&(dyn ToSql + Sync)> = values.iter().map(|value| value.as_ref() as _).collect();
    let sort_column = query.sort.column();
    let rows: Vec<(i64, Context)> =
        db.query(&statement, &parameters).await?.iter().map(|row| listed_from_row(row, sort_column)).collect();
    let page =
        into_page(rows, page.limit, |(value, context)| context_list::encode_after(query, *value, &context.external_id));
    Ok(Page { items: page.items.into_iter().map(|(_, context)| context).collect(), next_cursor: page.next_cursor })
}

/// A listed context with its counters, and the value its order sorts on.
fn listed_from_row(row: &Row, sort_column: Option<&str>) -> (i64, Context) {
    let mut context = from_row(row);
    let severity: i64 = row.get(3);
    let count: i64 = row.get(4);
    context.health = u8::try_from(severity).ok().filter(|severity| *severity > 0).and_then(Health::of_severity);
    context.connection_count = Some(count.max(0) as u64);
    let value = match sort_column {
        Some("severity") => severity,
        Some(_) => count,
        None => 0,
    };
    (value, context)
}
