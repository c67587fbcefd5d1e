//! Sorting a list pane's filtered index by one of its columns. Each row's key is computed
//! once (`sort_by_cached_key`), so 100,000 rows sort in tens of milliseconds, and the sort is
//! stable: rows that compare equal keep the server's order. The server offers no sorted
//! listing, so every sort is local.

use std::cmp::Reverse;

use super::columns::{List, Sort, SortColumn};
use super::data::Data;
use crate::model::{Connection, Health};

/// What a row sorts by: a number (health severity, a count) or a case-folded text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Number(usize),
    Text(String),
}

/// Sorts `index` (positions into `data`'s contexts, connectors or connections) by `sort`.
pub fn sort_index(data: &Data, list: List, sort: Sort, index: &mut [usize]) {
    let key = |position: usize| match list {
        List::Contexts => context_key(data, sort.column, position),
        List::Connectors => connector_key(data, sort.column, position),
        List::Connections { .. } => connection_key(sort.column, &data.connections[position]),
    };
    if sort.descending {
        index.sort_by_cached_key(|&position| Reverse(key(position)));
    } else {
        index.sort_by_cached_key(|&position| key(position));
    }
}

fn text(text: &str) -> Key {
    Key::Text(text.to_lowercase())
}

fn context_key(data: &Data, column: SortColumn, position: usize) -> Key {
    let context = &data.contexts[position];
    match column {
        SortColumn::Health => {
            Key::Number(data.context_health(&context.external_id).unwrap_or(Health::NotInstalled).severity().into())
        }
        SortColumn::Name => text(context.external_name.as_deref().unwrap_or("")),
        SortColumn::Connections => Key::Number(data.connections_of_context(&context.external_id).len()),
        _ => text(&context.external_id),
    }
}

fn connector_key(data: &Data, column: SortColumn, position: usize) -> Key {
    let connector = &data.connectors[position];
    match column {
        SortColumn::Count(health) => Key::Number(data.connector_counts(&connector.slug).get(health)),
        _ => text(&connector.name),
    }
}

fn connection_key(column: SortColumn, connection: &Connection) -> Key {
    match column {
        SortColumn::Health => Key::Number(Health::of(Some(connection)).severity().into()),
        SortColumn::Connector => text(&connection.connector.name),
        SortColumn::Context => text(connection.context.as_ref().map_or("", |context| context.external_id.as_str())),
        SortColumn::Label => text(
            connection
                .authorization
                .as_ref()
                .and_then(|authorization| authorization.display_label.as_deref())
                .unwrap_or(""),
        ),
        // The longer in its state, the bigger; unknown counts as just now.
        SortColumn::Since => Key::Number(
            connection
                .authorization
                .as_ref()
                .and_then(|authorization| authorization.status_changed_at)
                .map_or(0, |at| usize::try_from(i64::MAX - at.timestamp()).unwrap_or(0)),
        ),
        _ => text(&connection.id),
    }
}
