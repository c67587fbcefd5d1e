//! The dashboard's one state: loaded data, derived indices, views and modes.
//!
//! Only the reducer (`update/`) mutates it; drawing reads it. Derived indices (per context,
//! per connector, triage) are maintained as data arrives (`data.rs`), and each list's filtered
//! index is rebuilt only when data, filter or scope changes, so drawing costs the same at any
//! size.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use tui_input::Input;

use crate::model::{Connection, Connector, Context, Event};

use super::action::Stream;
use super::columns::{Column, List, Sort, columns};
use super::command::CommandLine;
use super::data::{Data, HealthCounts};
use super::filter::Filter;
use super::keymap::{KeyMode, Keymap};
use super::live::{self, FollowMode, Live};
use super::mint::{MintForm, MintedToken};
use super::plugins::Plugins;
use super::remote::{self, Listed, Remote};
use super::sort::sort_index;
use super::theme::Theme;

pub use super::list_view::ListView;

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
    /// Typing a `:` command.
    Command(CommandLine),
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
    /// The profile picker, on this row of [`State::profiles`].
    Profiles {
        selected: usize,
    },
    /// A plugin that asks before it runs, with its arguments already filled in.
    Confirm(PendingPlugin),
    /// The Events view over the panes.
    Events(EventsView),
}

/// A plugin run waiting for the user's yes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingPlugin {
    pub name: String,
    pub argv: Vec<String>,
    pub foreground: bool,
}

impl Mode {
    /// The keymap the mode takes its keys from.
    pub fn key_mode(&self) -> KeyMode {
        match self {
            Mode::Browse => KeyMode::Browse,
            Mode::Filter(_) => KeyMode::Filter,
            Mode::Command(_) => KeyMode::Command,
            Mode::Help { .. } => KeyMode::Help,
            Mode::Mint(_) => KeyMode::Mint,
            Mode::Minted(_) | Mode::Url { .. } => KeyMode::Popup,
            Mode::Profiles { .. } => KeyMode::Profiles,
            Mode::Confirm(_) => KeyMode::Confirm,
            Mode::Events(view) if view.editing.is_some() => KeyMode::Filter,
            Mode::Events(_) => KeyMode::Events,
        }
    }

    /// The secret a popup shows (masked until revealed): a minted token or a repair URL.
    pub fn shown_secret(&mut self) -> Option<ShownSecret<'_>> {
        match self {
            Mode::Minted(minted) => {
                Some(ShownSecret { text: minted.token.expose_secret(), revealed: &mut minted.revealed, what: "token" })
            }
            Mode::Url { url, revealed, .. } => Some(ShownSecret { text: url, revealed, what: "URL" }),
            _ => None,
        }
    }
}

/// A popup's secret, for the one handler of the token and URL popups.
pub struct ShownSecret<'a> {
    pub text: &'a str,
    pub revealed: &'a mut bool,
    /// What it is, for the status line: `token`, `URL`.
    pub what: &'static str,
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

/// The Events view: the recent events, filtered, newest first, with a selection. Its `/`
/// filter is typed in place (`editing`), like the panes'.
#[derive(Debug, Clone, Default)]
pub struct EventsView {
    /// Positions into [`Live::events`] (0 is the newest) that the filter keeps.
    pub view: ListView,
    pub filter: String,
    /// The filter being typed, when it is.
    pub editing: Option<Input>,
}

impl EventsView {
    /// Rebuilds the filtered index over `events`, keeping the selected event (by id) when it is
    /// still listed.
    pub fn rebuild(&mut self, events: &VecDeque<Event>, keep: Option<&str>, rows: usize) {
        let words: Vec<String> = self.filter.split_whitespace().map(str::to_lowercase).collect();
        let index: Vec<usize> = (0..events.len())
            .filter(|&position| words.iter().all(|word| live::matches(&events[position], word)))
            .collect();
        let keep = keep.and_then(|id| events.iter().position(|event| event.id == id));
        self.view.replace(index, keep, rows);
    }

    /// The selected event's id.
    pub fn selected_id<'a>(&self, events: &'a VecDeque<Event>) -> Option<&'a str> {
        self.view.selected_item().and_then(|position| events.get(position)).map(|event| event.id.as_str())
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
    /// The server root, for plugins' `{api_url}`.
    pub api_url: String,
    /// The profile it came from (`demo` for the embedded demo), where the picker opens.
    pub profile: Option<String>,
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
    /// Between full scans while the server's events are not followed.
    pub refresh: Duration,
    /// Between full scans while events are followed: a slow safety net.
    pub live_rescan: Duration,
}

/// The safety-net rescan while following events, unless a profile says otherwise.
pub const DEFAULT_LIVE_RESCAN: Duration = Duration::from_secs(300);

impl Default for Settings {
    fn default() -> Self {
        Self { refresh: Duration::from_secs(30), live_rescan: DEFAULT_LIVE_RESCAN }
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

/// One list pane: its filtered, windowed view, the filter as typed, its loading state, and how
/// many data rows it shows at the current terminal size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPane {
    pub view: ListView,
    pub filter: String,
    pub load: PaneLoad,
    /// Visible data rows, for page sizes and scrolling; set by the reducer on every resize.
    pub rows: usize,
    /// The column the list is sorted by; `None` keeps the server's order.
    pub sort: Option<Sort>,
}

impl Default for ListPane {
    fn default() -> Self {
        Self { view: ListView::default(), filter: String::new(), load: PaneLoad::default(), rows: 1, sort: None }
    }
}

#[derive(Debug, Clone, Default)]
pub struct State {
    pub target: TargetInfo,
    pub keymap: Keymap,
    /// The `[[plugins]]` of config.toml that this target offers.
    pub plugins: Plugins,
    /// The profiles a switch can open: config.toml's, then "demo".
    pub profiles: Vec<String>,
    /// The profile being opened by a switch, until it opens or fails.
    pub switching: Option<String>,
    pub theme: Theme,
    pub settings: Settings,
    /// Terminal size, as the last resize reported it.
    pub size: (u16, u16),
    pub focus: Pane,
    /// The left pane whose selection decides the connections pane.
    pub driver: Pane,
    pub triage: bool,
    pub scope: Scope,
    pub mode: Mode,
    pub data: Data,
    pub contexts: ListPane,
    pub connectors: ListPane,
    pub connections: ListPane,
    /// Hosted catalog base for repair URLs.
    pub catalog_url: Option<String>,
    pub catalog_error: Option<String>,
    pub generation: u64,
    pub scan: Option<RunningScan>,
    /// Consecutive failed scans, for back-off.
    pub failures: u32,
    /// True once the server answered 404 to the bulk connections listing.
    pub fallback: bool,
    /// The panes read what they show from the server (a large platform on a server with the
    /// extensions); `None`: everything is loaded.
    pub remote: Option<Box<Remote>>,
    pub spinner: usize,
    /// Connections whose forced refresh is in flight, by id.
    pub refreshing: HashSet<String>,
    pub flash: Option<Flash>,
    /// The event stream: live or polling, recent events, the 24-hour history.
    pub live: Live,
    /// The time "since" columns count from; `None` reads the wall clock (tests freeze it).
    pub frozen_now: Option<DateTime<Utc>>,
    /// The time zone event times are shown in; `None` is the machine's (tests fix it).
    pub time_zone: Option<chrono::FixedOffset>,
    /// Earlier `:` commands, oldest first (kept in the state directory by the runtime).
    pub command_history: Vec<String>,
    pub needs_redraw: bool,
    pub quit: bool,
}

impl State {
    /// A state before any data and before the first resize (which sets the pane heights).
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

    /// The list pane a pane shows or acts on: the detail pane moves through the connections.
    pub fn list_pane(&self, pane: Pane) -> &ListPane {
        match pane {
            Pane::Contexts => &self.contexts,
            Pane::Connectors => &self.connectors,
            Pane::Connections | Pane::Detail => &self.connections,
        }
    }

    pub fn list_pane_mut(&mut self, pane: Pane) -> &mut ListPane {
        match pane {
            Pane::Contexts => &mut self.contexts,
            Pane::Connectors => &mut self.connectors,
            Pane::Connections | Pane::Detail => &mut self.connections,
        }
    }

    pub fn list_panes(&self) -> [&ListPane; 3] {
        [&self.contexts, &self.connectors, &self.connections]
    }

    pub fn list_panes_mut(&mut self) -> [&mut ListPane; 3] {
        [&mut self.contexts, &mut self.connectors, &mut self.connections]
    }

    pub fn filter_text(&self, pane: Pane) -> &str {
        &self.list_pane(pane).filter
    }

    pub fn set_flash(&mut self, text: impl Into<String>, error: bool) {
        self.flash = Some(Flash { text: text.into(), error });
    }

    pub fn selected_context(&self) -> Option<&Context> {
        let position = self.contexts.view.selected_item()?;
        match &self.remote {
            Some(remote) => remote.contexts.loaded(position),
            None => self.data.contexts.get(position),
        }
    }

    pub fn selected_connector(&self) -> Option<&Connector> {
        self.connectors.view.selected_item().and_then(|position| self.data.connectors.get(position))
    }

    pub fn selected_connection(&self) -> Option<&Connection> {
        let position = self.connections.view.selected_item()?;
        match &self.remote {
            Some(remote) if matches!(self.scope, Scope::Triage | Scope::Connector(_)) => {
                remote.listing.loaded(position)
            }
            _ => self.data.connections.get(position),
        }
    }

    /// Connections per health across the platform: the server's counters in remote mode.
    pub fn totals(&self) -> HealthCounts {
        self.remote.as_ref().map_or(self.data.totals, |remote| remote.totals())
    }

    /// The selections by identity, to find them again after the data is replaced.
    pub fn selection(&self) -> Selection {
        Selection {
            context: self.selected_context().map(|context| context.external_id.clone()),
            connector: self.selected_connector().map(|connector| connector.slug.clone()),
            connection: self.selected_connection().map(|connection| connection.id.clone()),
        }
    }

    /// Now, for ages on screen.
    pub fn now(&self) -> DateTime<Utc> {
        self.frozen_now.unwrap_or_else(Utc::now)
    }

    /// `at` as a local wall-clock time, `13:04:05`.
    pub fn local_clock(&self, at: DateTime<Utc>) -> String {
        match self.time_zone {
            Some(zone) => at.with_timezone(&zone).format("%H:%M:%S").to_string(),
            None => at.with_timezone(&chrono::Local).format("%H:%M:%S").to_string(),
        }
    }

    /// Between full scans: long while events keep the screen current, else the refresh interval.
    pub fn rescan_interval(&self) -> Duration {
        match self.live.mode {
            FollowMode::Live => self.settings.live_rescan,
            FollowMode::Starting | FollowMode::Polling | FollowMode::Retrying { .. } => self.settings.refresh,
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

    /// Whether the connections pane shows a context column: not when it lists one context's.
    pub fn shows_context(&self) -> bool {
        !matches!(self.scope, Scope::Context(_))
    }

    /// The columns `pane` shows (the detail pane moves through the connections').
    pub fn columns(&self, pane: Pane) -> Vec<Column> {
        columns(match pane {
            Pane::Contexts => List::Contexts,
            Pane::Connectors => List::Connectors,
            Pane::Connections | Pane::Detail => List::Connections { show_context: self.shows_context() },
        })
    }

    /// Rebuilds the list `pane` shows (the connections follow a context or connector list).
    pub fn rebuild_pane(&mut self, pane: Pane) {
        match pane {
            Pane::Contexts => self.rebuild_contexts(),
            Pane::Connectors => self.rebuild_connectors(),
            Pane::Connections | Pane::Detail => {}
        }
        self.rebuild_connections();
    }

    pub fn rebuild_contexts(&mut self) {
        let keep = self.selection().context;
        self.rebuild_contexts_keeping(keep.as_deref());
    }

    fn rebuild_contexts_keeping(&mut self, keep: Option<&str>) {
        let filter = Filter::parse(&self.contexts.filter);
        if let Some(remote) = &mut self.remote {
            // The server filters and sorts; the list is virtual, its rows read as it scrolls.
            match remote::context_query(&filter, self.contexts.sort) {
                Ok(query) => {
                    // Keystrokes in the filter line wait for the typing to settle.
                    if remote.ask(query, matches!(self.mode, Mode::Filter(_))) {
                        self.contexts.view.selected = 0;
                        self.contexts.view.offset = 0;
                    }
                }
                Err(error) => self.flash = Some(Flash { text: error, error: true }),
            }
            self.contexts.view.set_virtual(remote.contexts.len(), self.contexts.rows);
            return;
        }
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
        install_index(&mut self.contexts, &self.data, List::Contexts, index, keep);
    }

    pub fn rebuild_connectors(&mut self) {
        let keep = self.selection().connector;
        self.rebuild_connectors_keeping(keep.as_deref());
    }

    fn rebuild_connectors_keeping(&mut self, keep: Option<&str>) {
        let filter = Filter::parse(&self.connectors.filter);
        let keep = keep.and_then(|slug| self.data.connector_position(slug));
        let data = &self.data;
        let index: Vec<usize> = (0..data.connectors.len())
            .filter(|&position| {
                let connector = &data.connectors[position];
                let owned = data.connections_of_connector(&connector.slug).iter().map(|&c| &data.connections[c]);
                if data.counted_by_server() {
                    let counts = data.connector_counts(&connector.slug);
                    return filter.matches_connector_counted(connector, |health| counts.get(health));
                }
                filter.matches_connector(connector, owned)
            })
            .collect();
        install_index(&mut self.connectors, &self.data, List::Connectors, index, keep);
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
        let rescoped = scope != self.scope;
        self.scope = scope;
        if let (Some(remote), Some((listed, left_out))) =
            (self.remote.as_mut(), listed(&self.scope, &self.connections.filter))
        {
            if left_out {
                let text = "on a large platform, triage and a connector's list filter by status: and connector: only";
                self.flash = Some(Flash { text: text.into(), error: true });
            }
            // Across contexts: a virtual list of the server's pages.
            remote.list(listed);
            if rescoped {
                self.connections.view.selected = 0;
                self.connections.view.offset = 0;
            }
            self.connections.view.set_virtual(remote.listing.len(), self.connections.rows);
            return;
        }
        let data = &self.data;
        let base: &[usize] = match &self.scope {
            Scope::Nothing => &[],
            Scope::Context(external_id) => data.connections_of_context(external_id),
            Scope::Connector(slug) => data.connections_of_connector(slug),
            Scope::Triage => data.needing_attention(),
        };
        let filter = Filter::parse(&self.connections.filter);
        let index: Vec<usize> =
            base.iter().copied().filter(|&position| filter.matches_connection(&data.connections[position])).collect();
        let list = List::Connections { show_context: self.shows_context() };
        install_index(&mut self.connections, &self.data, list, index, keep);
    }
}

/// What a remote-backed connections pane pages through for `scope` and its `filter`: the
/// scopes across contexts (one context's connections are read whole), and whether filter
/// words were left out.
fn listed(scope: &Scope, filter: &str) -> Option<(Listed, bool)> {
    let (health, connector, left_out) = Filter::parse(filter).connection_terms();
    let listed = match scope {
        Scope::Triage => Listed { triage: true, health, connector },
        // The scope's connector wins over a `connector:` term.
        Scope::Connector(slug) => Listed { triage: false, health, connector: Some(slug.clone()) },
        Scope::Nothing | Scope::Context(_) => return None,
    };
    Some((listed, left_out))
}

/// Installs a rebuilt filtered index (in data order), sorted by the pane's sort, keeping the
/// data position `keep` selected when it is still listed.
fn install_index(pane: &mut ListPane, data: &Data, list: List, mut index: Vec<usize>, keep: Option<usize>) {
    let rows = pane.rows;
    match pane.sort {
        Some(sort) => {
            sort_index(data, list, sort, &mut index);
            pane.view.replace(index, keep, rows);
        }
        None => replace_sorted(&mut pane.view, index, keep, rows),
    }
}

/// [`ListView::replace`] for indices in ascending order: finds the kept item by binary search,
/// so keeping the selection costs O(log n) even for 100,000 rows.
fn replace_sorted(view: &mut ListView, index: Vec<usize>, keep: Option<usize>, rows: usize) {
    let position = keep.and_then(|item| index.binary_search(&item).ok());
    view.index = index;
    view.virtual_rows = None;
    match position {
        Some(position) => view.select(position, rows),
        None => {
            view.offset = 0;
            view.select(0, rows);
        }
    }
}
