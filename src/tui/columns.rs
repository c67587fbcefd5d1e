//! The columns of each list pane, in one table: their titles and widths (drawing), what they
//! sort by (`s`, `S`, `:sort`) and where they are (a mouse click on a header), so the three
//! always agree.

use ratatui::layout::{Constraint, Layout, Rect};

use crate::model::Health;

/// What a column shows, and so what sorting by it compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortColumn {
    /// Most severe first when descending: error, unknown, pending, active, disabled, none.
    Health,
    ExternalId,
    Name,
    /// A context's connection count.
    Connections,
    Connector,
    /// A connector's count of connections of one health.
    Count(Health),
    Context,
    Label,
    Id,
    /// How long a connection has been in its state (`authorization.status_changed_at`).
    Since,
}

impl SortColumn {
    /// The name `:sort` takes.
    pub fn name(self) -> &'static str {
        match self {
            SortColumn::Health => "health",
            SortColumn::ExternalId | SortColumn::Id => "id",
            SortColumn::Name => "name",
            SortColumn::Connections => "conns",
            SortColumn::Connector => "connector",
            SortColumn::Count(Health::Active) => "active",
            SortColumn::Count(Health::Pending) => "pending",
            SortColumn::Count(Health::Error) => "errors",
            SortColumn::Count(Health::Disabled) => "disabled",
            SortColumn::Count(_) => "unknown",
            SortColumn::Context => "context",
            SortColumn::Label => "label",
            SortColumn::Since => "since",
        }
    }

    /// The direction a first sort takes: the worst health and the biggest counts first,
    /// texts from A to Z.
    pub fn descending_first(self) -> bool {
        matches!(self, SortColumn::Health | SortColumn::Connections | SortColumn::Count(_) | SortColumn::Since)
    }
}

/// How a list is sorted; a list without one keeps the server's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sort {
    pub column: SortColumn,
    pub descending: bool,
}

impl Sort {
    /// The arrow the sorted column's header carries.
    pub fn arrow(self) -> &'static str {
        if self.descending { "↓" } else { "↑" }
    }
}

/// One column of a list pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub key: SortColumn,
    pub title: &'static str,
    pub width: Constraint,
}

const fn column(key: SortColumn, title: &'static str, width: Constraint) -> Column {
    Column { key, title, width }
}

/// The healths counted per connector, in column order.
pub const COUNTED: [Health; 5] = [Health::Active, Health::Pending, Health::Error, Health::Disabled, Health::Unknown];

/// Which list a table of columns belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    Contexts,
    Connectors,
    /// The connections, with a context column unless they are one context's.
    Connections {
        show_context: bool,
    },
}

/// The columns a list shows.
pub fn columns(list: List) -> Vec<Column> {
    match list {
        List::Contexts => vec![
            column(SortColumn::Health, "Health", Constraint::Length(10)),
            column(SortColumn::ExternalId, "External id", Constraint::Fill(2)),
            column(SortColumn::Name, "Name", Constraint::Fill(2)),
            column(SortColumn::Connections, "Conns", Constraint::Length(5)),
        ],
        List::Connectors => {
            let mut columns = vec![column(SortColumn::Connector, "Connector", Constraint::Min(8))];
            columns.extend(
                COUNTED.map(|health| column(SortColumn::Count(health), health.symbol(), Constraint::Length(4))),
            );
            columns
        }
        List::Connections { show_context } => {
            let mut columns = vec![
                column(SortColumn::Health, "Health", Constraint::Length(13)),
                column(SortColumn::Since, "Since", Constraint::Length(5)),
                column(SortColumn::Connector, "Connector", Constraint::Fill(2)),
            ];
            if show_context {
                columns.push(column(SortColumn::Context, "Context", Constraint::Fill(2)));
            }
            columns.push(column(SortColumn::Label, "Label", Constraint::Fill(2)));
            columns.push(column(SortColumn::Id, "Id", Constraint::Fill(2)));
            columns
        }
    }
}

/// Spacing between a table's columns.
pub const COLUMN_SPACING: u16 = 1;

/// The column under `x` in a table drawn inside `inner` (the pane less its borders), laid out
/// the way ratatui's `Table` lays it out.
pub fn column_at(columns: &[Column], inner: Rect, x: u16) -> Option<SortColumn> {
    let areas = Layout::horizontal(columns.iter().map(|column| column.width)).spacing(COLUMN_SPACING).split(inner);
    // A click on the gap between two columns belongs to the column on its left.
    areas.iter().zip(columns).rev().find(|(area, _)| x >= area.x).map(|(_, column)| column.key)
}
