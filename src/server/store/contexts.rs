//! Contexts: upsert by `external_id`, rename, read (the listing is `context_list.rs`).

use rusqlite::{Connection as Db, OptionalExtension, Row, Transaction, params};
use serde_json::{Map, Value};

use super::error::{StoreError, StoreResult};
use super::sql::now_text;
use crate::model::Context;

/// The row id of a context, or `NotFound` naming it.
pub(super) fn row_id(db: &Db, external_id: &str) -> StoreResult<i64> {
    let mut statement = db.prepare_cached("SELECT id FROM contexts WHERE external_id = ?1")?;
    statement
        .query_row([external_id], |row| row.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no context with external_id {external_id:?}")))
}

pub(super) fn get(db: &Db, external_id: &str) -> StoreResult<Context> {
    let mut statement =
        db.prepare_cached("SELECT external_id, external_name, attributes FROM contexts WHERE external_id = ?1")?;
    statement
        .query_row([external_id], from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("no context with external_id {external_id:?}")))
}

pub(super) fn upsert(tx: &Transaction<'_>, context: &Context) -> StoreResult<Context> {
    match get(tx, &context.external_id) {
        Ok(stored) => {
            let merged = merge(stored, context);
            write_fields(tx, &context.external_id, &merged)?;
            Ok(merged)
        }
        Err(StoreError::NotFound(_)) => {
            insert_if_absent(tx, context)?;
            Ok(context.clone())
        }
        Err(error) => Err(error),
    }
}

pub(super) fn update(tx: &Transaction<'_>, external_id: &str, update: &Context) -> StoreResult<Context> {
    let stored = get(tx, external_id)?;
    if update.external_id != external_id && row_id(tx, &update.external_id).is_ok() {
        return Err(StoreError::Conflict(format!(
            "a context with external_id {:?} already exists",
            update.external_id
        )));
    }
    let merged = merge(stored, update);
    write_fields(tx, external_id, &merged)?;
    Ok(merged)
}

/// Inserts a context unless one with its `external_id` exists; true when inserted.
pub(super) fn insert_if_absent(tx: &Transaction<'_>, context: &Context) -> StoreResult<bool> {
    let now = now_text();
    let inserted = tx
        .prepare_cached(
            "INSERT INTO contexts (external_id, external_name, attributes, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4) ON CONFLICT (external_id) DO NOTHING",
        )?
        .execute(params![context.external_id, context.external_name, attributes_text(&context.attributes)?, now])?;
    Ok(inserted == 1)
}

/// The stored context with the update's name (when given) and attributes merged over it.
pub(super) fn merge(mut stored: Context, update: &Context) -> Context {
    stored.external_id = update.external_id.clone();
    if update.external_name.is_some() {
        stored.external_name = update.external_name.clone();
    }
    stored.attributes.extend(update.attributes.iter().map(|(key, value)| (key.clone(), value.clone())));
    stored
}

fn write_fields(tx: &Transaction<'_>, external_id: &str, context: &Context) -> StoreResult<()> {
    tx.prepare_cached(
        "UPDATE contexts SET external_id = ?2, external_name = ?3, attributes = ?4, updated_at = ?5
         WHERE external_id = ?1",
    )?
    .execute(params![
        external_id,
        context.external_id,
        context.external_name,
        attributes_text(&context.attributes)?,
        now_text()
    ])?;
    Ok(())
}

pub(super) fn from_row(row: &Row<'_>) -> rusqlite::Result<Context> {
    let attributes: String = row.get(2)?;
    Ok(Context {
        external_id: row.get(0)?,
        external_name: row.get(1)?,
        // Written by this module from a JSON object; an unreadable value degrades to no attributes.
        attributes: serde_json::from_str::<Map<String, Value>>(&attributes).unwrap_or_default(),
        ..Default::default()
    })
}

fn attributes_text(attributes: &Map<String, Value>) -> StoreResult<String> {
    serde_json::to_string(attributes).map_err(|error| StoreError::Internal(error.into()))
}
