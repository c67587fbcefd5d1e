//! The dashboard's one state: loaded data, derived indices, views and modes.
//!
//! Only the reducer (`update.rs`) mutates it; drawing reads it. Derived indices (per context,
//! per connector, triage) are maintained as data arrives, and each list's filtered index is
//! rebuilt only when data, filter or scope changes, so drawing costs the same at any size.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tui_input::Input;

use crate::model::{Connection, Connector, Context, ContextRef, Health};

use super::action::Stream;
use super::filter::Filter;
use super::keymap::Keymap;
use super::mint::{MintForm, MintedToken};
use super::theme::Theme;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Pane {
    #[default]
    Contexts,
    Connectors,
    Connections,
    Detail,
}

impl Pane {
    pub const ALL: [Pane; 4] = [Pane::Contexts, Pane::Connectors, Pane::Connections, Pane::Detail];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Contexts => "Contexts",
            Pane::Connectors => "Connectors",
            Pane::Connections => "Connections",
            Pane::Detail => "Detail",
        }
    }
}

/// Which connections the connections pane lists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    #[default]
    Nothing,
    Context(String),
    Connector(String),
    /// Every connection that needs attention, across all contexts.
    Triage,
}

/// What the keyboard currently talks to.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    #[default]
    Browse,
    /// Editing the filter of the focused list.
    Filter(Input),
    /// The keys popup, scrolled down by this many lines when it does not fit.
    Help {
        scroll: u16,
    },
    Mint(MintForm),
    Minted(MintedToken),
    /// A URL no browser could open: shown (its repair token masked until revealed), and copied
    /// with OSC 52.
    Url {
        url: String,
        reason: String,
        revealed: bool,
    },
}

/// A URL as the screen shows it: the value of a `token` query parameter (a single-use repair
/// token or a context token) is masked, like every other secret.
pub fn masked_url(url: &str) -> String {
    let Some((page, query)) = url.split_once('?') else { return url.to_owned() };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some(("token", _)) => "token=••••••••".to_owned(),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{page}?{}", query.join("&"))
}

/// Per-pane loading state, shown in the pane's title.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaneLoad {
    pub loading: bool,
    pub loaded_at: Option<DateTime<Utc>>,
    /// The last failure and since when the pane has been failing.
    pub error: Option<(DateTime<Utc>, String)>,
}

/// Counts per health, indexed like [`Health::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCounts(pub [usize; 6]);

impl HealthCounts {
    fn slot(health: Health) -> usize {
        Health::ALL.iter().position(|candidate| *candidate == health).expect("every health is listed")
    }

    pub fn add(&mut self, health: Health) {
        self.0[Self::slot(health)] += 1;
    }

    pub fn get(&self, health: Health) -> usize {
        self.0[Self::slot(health)]
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// Everything loaded from the platform, with the indices the panes need.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub contexts: Vec<Context>,
    pub connectors: Vec<Connector>,
    pub connections: Vec<Connection>,
    context_pos: HashMap<String, usize>,
    connector_pos: HashMap<String, usize>,
    connection_pos: HashMap<String, usize>,
    by_context: HashMap<String, Vec<usize>>,
    by_connector: HashMap<String, Vec<usize>>,
    attention: Vec<usize>,
    pub totals: HealthCounts,
    connector_counts: HashMap<String, HealthCounts>,
}

impl Data {
    pub fn from_parts(contexts: Vec<Context>, connectors: Vec<Connector>, connections: Vec<Connection>) -> Self {
        let mut data = Self::default();
        data.add_contexts(contexts);
        data.add_connectors(connectors);
        data.add_connections(connections);
        data
    }

    /// Appends contexts; one already known by id is replaced in place.
    pub fn add_contexts(&mut self, contexts: Vec<Context>) {
        for context in contexts {
            let key = context.external_id.clone();
            upsert(&mut self.contexts, &mut self.context_pos, key, context);
        }
    }

    /// Appends connectors; one already known by slug is replaced in place.
    pub fn add_connectors(&mut self, connectors: Vec<Connector>) {
        for connector in connectors {
            let key = connector.slug.clone();
            upsert(&mut self.connectors, &mut self.connector_pos, key, connector);
        }
    }

    /// Appends connections and their derived counts; a repeated id replaces the old one and
    /// rebuilds the indices (rare: only when a listing shifts between pages).
    pub fn add_connections(&mut self, connections: Vec<Connection>) {
        let mut replaced = false;
        for mut connection in connections {
            // Every connection arrives with a full copy of its connector; the panes only use
            // its slug and name, so the long texts are dropped (27 MiB at 100,000 connections).
            let connector = &mut connection.connector;
            connector.short_description = String::new();
            connector.mark_url = String::new();
            connector.about = None;
            connector.description = None;
            if let Some(&position) = self.connection_pos.get(&connection.id) {
                self.connections[position] = connection;
                replaced = true;
                continue;
            }
            let position = self.connections.len();
            self.connection_pos.insert(connection.id.clone(), position);
            self.connections.push(connection);
            if !replaced {
                self.index_connection(position);
            }
        }
        if replaced {
            self.reindex_connections();
        }
    }

    fn index_connection(&mut self, position: usize) {
        let connection = &self.connections[position];
        let health = Health::of(Some(connection));
        if let Some(context) = &connection.context {
            self.by_context.entry(context.external_id.clone()).or_default().push(position);
        }
        self.by_connector.entry(connection.connector.slug.clone()).or_default().push(position);
        self.connector_counts.entry(connection.connector.slug.clone()).or_default().add(health);
        self.totals.add(health);
        if health.needs_attention() {
            self.attention.push(position);
        }
    }

    fn reindex_connections(&mut self) {
        self.by_context.clear();
        self.by_connector.clear();
        self.connector_counts.clear();
        self.attention.clear();
        self.totals = HealthCounts::default();
        for position in 0..self.connections.len() {
            self.index_connection(position);
        }
    }

    /// Adds the contexts and connectors that connections refer to but no listing returned
    /// (a server without the list extensions, or a listing that failed).
    pub fn adopt_referenced(&mut self) {
        let mut contexts = Vec::new();
        let mut connectors = Vec::new();
        let mut seen = HashSet::new();
        for connection in &self.connections {
            if !self.connector_pos.contains_key(&connection.connector.slug) && seen.insert(&connection.connector.slug) {
                connectors.push(connection.connector.clone());
            }
            if let Some(ContextRef { external_id, external_name }) = &connection.context
                && !self.context_pos.contains_key(external_id)
                && seen.insert(external_id)
            {
                contexts.push(Context {
                    external_id: external_id.clone(),
                    external_name: external_name.clone(),
                    ..Default::default()
                });
            }
        }
        self.add_contexts(contexts);
        self.add_connectors(connectors);
    }

    pub fn context_position(&self, external_id: &str) -> Option<usize> {
        self.context_pos.get(external_id).copied()
    }

    pub fn connector_position(&self, slug: &str) -> Option<usize> {
        self.connector_pos.get(slug).copied()
    }

    pub fn connection_position(&self, id: &str) -> Option<usize> {
        self.connection_pos.get(id).copied()
    }

    pub fn connections_of_context(&self, external_id: &str) -> &[usize] {
        self.by_context.get(external_id).map_or(&[], Vec::as_slice)
    }

    pub fn connections_of_connector(&self, slug: &str) -> &[usize] {
        self.by_connector.get(slug).map_or(&[], Vec::as_slice)
    }

    pub fn needing_attention(&self) -> &[usize] {
        &self.attention
    }

    pub fn connector_counts(&self, slug: &str) -> HealthCounts {
        self.connector_counts.get(slug).copied().unwrap_or_default()
    }

    /// The least healthy connection of a context, for the contexts list.
    pub fn context_health(&self, external_id: &str) -> Option<Health> {
        self.connections_of_context(external_id)
            .iter()
            .map(|&position| Health::of(Some(&self.connections[position])))
            .max_by_key(|health| (health.needs_attention(), *health == Health::Pending, *health != Health::Disabled))
    }
}

/// A windowed list: the filtered index into the data, the selection and the scroll offset.
/// Only `index[offset..offset + rows]` is ever turned into widgets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListView {
    pub index: Vec<usize>,
    pub selected: usize,
    pub offset: usize,
}

impl ListView {
    /// The data position of the selected row.
    pub fn selected_item(&self) -> Option<usize> {
        self.index.get(self.selected).copied()
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Moves the selection to `position` (clamped) and scrolls it into a window of `rows`.
    pub fn select(&mut self, position: usize, rows: usize) {
        self.selected = position.min(self.index.len().saturating_sub(1));
        self.scroll_into_view(rows);
    }

    pub fn move_by(&mut self, delta: isize, rows: usize) {
        self.select(self.selected.saturating_add_signed(delta), rows);
    }

    pub fn scroll_into_view(&mut self, rows: usize) {
        let rows = rows.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + rows {
            self.offset = self.selected + 1 - rows;
        }
        self.offset = self.offset.min(self.index.len().saturating_sub(rows));
    }

    /// Replaces the index, keeping `keep` (a data position) selected when it is still listed.
    pub fn replace(&mut self, index: Vec<usize>, keep: Option<usize>, rows: usize) {
        let position = keep.and_then(|item| index.iter().position(|&candidate| candidate == item));
        self.index = index;
        match position {
            Some(position) => self.select(position, rows),
            None => {
                self.offset = 0;
                self.select(0, rows);
            }
        }
    }

    /// The rows to draw for a window of `rows` lines, and the selection within them.
    pub fn window(&self, rows: usize) -> (&[usize], Option<usize>) {
        let start = self.offset.min(self.index.len());
        let end = (start + rows).min(self.index.len());
        let selected = (self.selected >= start && self.selected < end).then(|| self.selected - start);
        (&self.index[start..end], selected)
    }
}

/// What the header says about the open target.
#[derive(Debug, Clone, Default)]
pub struct TargetInfo {
    /// `local demo · http://127.0.0.1:41234/` or `prod · https://...`.
    pub label: String,
    pub read_only: bool,
    /// xkit-dash's own server: it offers the repair-link extension.
    pub bundled: bool,
}

/// The scan in flight, if any.
#[derive(Debug, Clone, Default)]
pub struct RunningScan {
    pub pending: HashSet<Stream>,
    pub failed: bool,
    /// Staging for a refresh, swapped in when the scan ends; `None` on the first load,
    /// which fills [`State::data`] progressively instead.
    pub staging: Option<Data>,
    pub contexts_seen: usize,
    pub connections_seen: usize,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub refresh: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self { refresh: Duration::from_secs(30) }
    }
}

/// What is selected in each list, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub context: Option<String>,
    pub connector: Option<String>,
    pub connection: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub target: TargetInfo,
    pub keymap: Keymap,
    pub theme: Theme,
    pub settings: Settings,
    /// Terminal size, for page sizes.
    pub size: (u16, u16),
    pub focus: Pane,
    /// The left pane whose selection decides the connections pane.
    pub driver: Pane,
    pub triage: bool,
    pub scope: Scope,
    pub mode: Mode,
    pub data: Data,
    pub contexts: ListView,
    pub connectors: ListView,
    pub connections: ListView,
    /// Filter text per list, as typed.
    pub filters: [String; 3],
    pub loads: [PaneLoad; 3],
    /// Hosted catalog base for repair URLs.
    pub catalog_url: Option<String>,
    pub catalog_error: Option<String>,
    pub generation: u64,
    pub scan: Option<RunningScan>,
    /// Consecutive failed scans, for back-off.
    pub failures: u32,
    /// True once the server answered 404 to the bulk connections listing.
    pub fallback: bool,
    pub spinner: usize,
    /// Connections whose forced refresh is in flight, by id.
    pub refreshing: HashSet<String>,
    pub flash: Option<Flash>,
    pub needs_redraw: bool,
    pub quit: bool,
}

impl State {
    pub fn new(
        target: TargetInfo,
        keymap: Keymap,
        theme: Theme,
        settings: Settings,
        catalog_url: Option<String>,
    ) -> Self {
        Self {
            target,
            keymap,
            theme,
            settings,
            catalog_url,
            size: (80, 24),
            driver: Pane::Contexts,
            needs_redraw: true,
            ..Self::default()
        }
    }

    pub fn list(&self, pane: Pane) -> Option<&ListView> {
        match pane {
            Pane::Contexts => Some(&self.contexts),
            Pane::Connectors => Some(&self.connectors),
            Pane::Connections => Some(&self.connections),
            Pane::Detail => None,
        }
    }

    pub fn list_mut(&mut self, pane: Pane) -> Option<&mut ListView> {
        match pane {
            Pane::Contexts => Some(&mut self.contexts),
            Pane::Connectors => Some(&mut self.connectors),
            Pane::Connections => Some(&mut self.connections),
            Pane::Detail => None,
        }
    }

    /// Index into [`State::filters`] and [`State::loads`].
    pub fn slot(pane: Pane) -> usize {
        match pane {
            Pane::Contexts => 0,
            Pane::Connectors => 1,
            Pane::Connections | Pane::Detail => 2,
        }
    }

    pub fn filter_text(&self, pane: Pane) -> &str {
        &self.filters[Self::slot(pane)]
    }

    pub fn load(&self, pane: Pane) -> &PaneLoad {
        &self.loads[Self::slot(pane)]
    }

    pub fn selected_context(&self) -> Option<&Context> {
        self.contexts.selected_item().and_then(|position| self.data.contexts.get(position))
    }

    pub fn selected_connector(&self) -> Option<&Connector> {
        self.connectors.selected_item().and_then(|position| self.data.connectors.get(position))
    }

    pub fn selected_connection(&self) -> Option<&Connection> {
        self.connections.selected_item().and_then(|position| self.data.connections.get(position))
    }

    /// The selections by identity, to find them again after the data is replaced.
    pub fn selection(&self) -> Selection {
        Selection {
            context: self.selected_context().map(|context| context.external_id.clone()),
            connector: self.selected_connector().map(|connector| connector.slug.clone()),
            connection: self.selected_connection().map(|connection| connection.id.clone()),
        }
    }

    pub fn is_loading(&self) -> bool {
        self.scan.is_some() || matches!(&self.mode, Mode::Mint(form) if form.submitting)
    }

    /// `{catalog}/connectors/{slug}`, with the slug percent-encoded as one path segment.
    pub fn catalog_connector_url(&self, slug: &str) -> Option<String> {
        let mut url = url::Url::parse(self.catalog_url.as_deref()?).ok()?;
        url.path_segments_mut().ok()?.pop_if_empty().extend(["connectors", slug]);
        Some(url.into())
    }

    /// Recomputes the three filtered indices and the scope, keeping selections by identity.
    pub fn rebuild_views(&mut self) {
        let selection = self.selection();
        self.rebuild_views_keeping(selection);
    }

    /// [`State::rebuild_views`] after [`State::data`] was replaced: `selection` was taken
    /// before, since the views' positions point into the old data.
    pub fn rebuild_views_keeping(&mut self, selection: Selection) {
        self.rebuild_contexts_keeping(selection.context.as_deref());
        self.rebuild_connectors_keeping(selection.connector.as_deref());
        self.rebuild_connections_keeping(selection.connection.as_deref());
    }

    pub fn rebuild_contexts(&mut self) {
        let keep = self.selection().context;
        self.rebuild_contexts_keeping(keep.as_deref());
    }

    fn rebuild_contexts_keeping(&mut self, keep: Option<&str>) {
        let filter = Filter::parse(&self.filters[0]);
        let keep = keep.and_then(|id| self.data.context_position(id));
        let data = &self.data;
        let index: Vec<usize> = if filter.is_empty() {
            (0..data.contexts.len()).collect()
        } else {
            (0..data.contexts.len())
                .filter(|&position| {
                    let context = &data.contexts[position];
                    let owned = data.connections_of_context(&context.external_id).iter().map(|&c| &data.connections[c]);
                    filter.matches_context(context, owned)
                })
                .collect()
        };
        let rows = super::ui::layout::list_rows(self.size, Pane::Contexts);
        replace_sorted(&mut self.contexts, index, keep, rows);
    }

    pub fn rebuild_connectors(&mut self) {
        let keep = self.selection().connector;
        self.rebuild_connectors_keeping(keep.as_deref());
    }

    fn rebuild_connectors_keeping(&mut self, keep: Option<&str>) {
        let filter = Filter::parse(&self.filters[1]);
        let keep = keep.and_then(|slug| self.data.connector_position(slug));
        let data = &self.data;
        let index: Vec<usize> = (0..data.connectors.len())
            .filter(|&position| {
                let connector = &data.connectors[position];
                let owned = data.connections_of_connector(&connector.slug).iter().map(|&c| &data.connections[c]);
                filter.matches_connector(connector, owned)
            })
            .collect();
        let rows = super::ui::layout::list_rows(self.size, Pane::Connectors);
        replace_sorted(&mut self.connectors, index, keep, rows);
    }

    /// Derives the scope from triage and the driving pane's selection, then rebuilds the
    /// connections list (selection reset when the scope changed).
    pub fn rebuild_connections(&mut self) {
        let keep = self.selection().connection;
        self.rebuild_connections_keeping(keep.as_deref());
    }

    fn rebuild_connections_keeping(&mut self, keep: Option<&str>) {
        let scope = if self.triage {
            Scope::Triage
        } else {
            match self.driver {
                Pane::Connectors => self
                    .selected_connector()
                    .map_or(Scope::Nothing, |connector| Scope::Connector(connector.slug.clone())),
                _ => self
                    .selected_context()
                    .map_or(Scope::Nothing, |context| Scope::Context(context.external_id.clone())),
            }
        };
        let keep = if scope == self.scope { keep.and_then(|id| self.data.connection_position(id)) } else { None };
        self.scope = scope;
        let data = &self.data;
        let base: &[usize] = match &self.scope {
            Scope::Nothing => &[],
            Scope::Context(external_id) => data.connections_of_context(external_id),
            Scope::Connector(slug) => data.connections_of_connector(slug),
            Scope::Triage => data.needing_attention(),
        };
        let filter = Filter::parse(&self.filters[2]);
        let index: Vec<usize> =
            base.iter().copied().filter(|&position| filter.matches_connection(&data.connections[position])).collect();
        let rows = super::ui::layout::list_rows(self.size, Pane::Connections);
        self.connections.replace(index, keep, rows);
    }
}

/// [`ListView::replace`] for indices in ascending order: finds the kept item by binary search,
/// so keeping the selection costs O(log n) even for 100,000 rows.
fn replace_sorted(view: &mut ListView, index: Vec<usize>, keep: Option<usize>, rows: usize) {
    let position = keep.and_then(|item| index.binary_search(&item).ok());
    view.index = index;
    match position {
        Some(position) => view.select(position, rows),
        None => {
            view.offset = 0;
            view.select(0, rows);
        }
    }
}

/// Appends `item` to a list indexed by key, or replaces in place the item with the same key.
fn upsert<T>(items: &mut Vec<T>, positions: &mut HashMap<String, usize>, key: String, item: T) {
    match positions.get(&key) {
        Some(&position) => items[position] = item,
        None => {
            positions.insert(key, items.len());
            items.push(item);
        }
    }
}
