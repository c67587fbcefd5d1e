//! The remote-backed source of the panes' data, for a large platform on a server with the
//! extensions (`GET /stats`, the filtered and sorted `GET /contexts`, the bulk listing's
//! status filter): totals and connector counts from the server's counters, the contexts and
//! triage lists as [`PagedList`]s read as the window moves, and the connections of the last
//! few selected contexts (held in [`crate::tui::data::Data`], like a full scan's, so the
//! connections pane, the detail pane and the events follower work on them unchanged).
//!
//! Against a plain Xkit (no `GET /stats`) or a small platform, the dashboard loads everything
//! instead (`loader.rs`) and none of this is used.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::client::ClientError;
use crate::model::{Connection, Context, ContextOrder, ContextQuery, Health, HealthTotals, PlatformStats};

use super::columns::{Sort, SortColumn};
use super::data::HealthCounts;
use super::filter::Filter;
use super::paged::{PageRequest, PagedList};

/// Platforms with fewer connections than this are loaded whole unless the profile's
/// `remote_threshold` says otherwise: it takes well under a second, and every local filter and
/// sort keeps working.
pub const REMOTE_FROM_CONNECTIONS: u64 = 10_000;
/// The contexts whose connections are kept, the selected one included.
pub const OPEN_CONTEXTS: usize = 4;
/// Events re-read the totals at most this often.
pub const TOTALS_EVERY: Duration = Duration::from_secs(1);

/// A contexts query being typed goes out this long after the last keystroke (or as soon as the
/// read in flight answers), so typing a word costs one request, not one per letter.
pub const SETTLE: Duration = Duration::from_millis(150);

/// The healths triage lists, in this order (the bulk listing filters by one at a time).
pub const TRIAGE: [Health; 2] = [Health::Error, Health::Unknown];

/// What the dashboard asks of the server in remote mode.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteRequest {
    /// `GET /stats`, after `delay` (events re-read them at most every [`TOTALS_EVERY`]).
    Totals { delay: Duration },
    /// A page of `GET /contexts` for this query.
    Contexts { query: ContextQuery, page: PageRequest },
    /// A page of the connections listing: triage (the bulk listing by each of [`TRIAGE`] in
    /// turn) or one connector's.
    Listing { listed: Listed, page: PageRequest },
    /// The connections of one context.
    ContextConnections { context: String },
    /// Answers [`RemoteEvent::Settled`] after `after`: the debounce of a typed query.
    Settle { keystroke: u64, after: Duration },
}

/// What the server answered (through the open target's own channel).
#[derive(Debug, Clone)]
pub enum RemoteEvent {
    /// Boxed: large next to the other answers.
    Totals(Result<Box<PlatformStats>, ClientError>),
    ContextsPage {
        page: PageRequest,
        result: Result<(Vec<Context>, Option<String>), String>,
    },
    ListingPage {
        page: PageRequest,
        result: Result<(Vec<Connection>, Option<String>), String>,
    },
    ContextConnections {
        context: String,
        result: Result<Vec<Connection>, String>,
    },
    /// [`SETTLE`] passed since this keystroke.
    Settled {
        keystroke: u64,
    },
}

/// A contexts query typed in the filter and not asked yet: the list shows the previous
/// query's rows meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    pub query: ContextQuery,
    /// Which keystroke made it: only that keystroke's timer lets it go.
    pub keystroke: u64,
    /// Its timer was asked for.
    pub timed: bool,
    /// Its timer fired, or the read in flight when it was typed answered: it goes out as soon
    /// as no read of the list is in flight.
    pub due: bool,
}

/// What the paged connections listing holds: a connections pane's scope that spans contexts
/// (triage, one connector; one context's connections are read whole instead), narrowed by the
/// pane's `status:` and `connector:` terms: the bulk listing's own filters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listed {
    /// Only the healths of [`TRIAGE`].
    pub triage: bool,
    pub health: Option<Health>,
    pub connector: Option<String>,
}

impl Listed {
    /// The healths read, one listing after the other (`None`: any).
    pub fn healths(&self) -> Vec<Option<Health>> {
        match (self.triage, self.health) {
            (false, health) => vec![health],
            (true, None) => TRIAGE.map(Some).to_vec(),
            (true, Some(health)) if TRIAGE.contains(&health) => vec![Some(health)],
            (true, Some(_)) => Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Remote {
    pub stats: PlatformStats,
    /// The contexts query the list holds.
    pub query: ContextQuery,
    /// The query being typed, when it differs from [`Remote::query`].
    pub typed: Option<Typed>,
    keystrokes: u64,
    pub contexts: PagedList<Context>,
    /// The connections pane in triage or on a connector: paged like the contexts.
    pub listing: PagedList<Connection>,
    pub listed: Listed,
    /// Contexts whose connections are in the loaded data, oldest first.
    pub opened: VecDeque<String>,
    /// The context whose connections are being read.
    pub opening: Option<String>,
    pub totals_reading: bool,
    /// Something changed while the totals were read: read them again after.
    pub totals_dirty: bool,
    pub totals_read_at: Option<DateTime<Utc>>,
    /// Counts the queries, so a page of an older one is dropped.
    queries: u64,
}

impl Remote {
    pub fn new(stats: PlatformStats) -> Self {
        let contexts = PagedList::new(1, Some(stats.contexts as usize));
        let listing = PagedList::new(1, Some(TRIAGE.iter().map(|&health| stats.health.get(health) as usize).sum()));
        Self {
            stats,
            query: ContextQuery::default(),
            typed: None,
            keystrokes: 0,
            contexts,
            listing,
            listed: Listed { triage: true, ..Listed::default() },
            opened: VecDeque::new(),
            opening: None,
            totals_reading: false,
            totals_dirty: false,
            totals_read_at: None,
            queries: 1,
        }
    }

    /// The filter and sort now make `query`. A deliberate change (a sort, a command, the
    /// filter kept or cleared) starts the list over at once: true. While `typing`, the query
    /// waits in [`Remote::typed`] for the typing to settle (`update/remote.rs`).
    pub fn ask(&mut self, query: ContextQuery, typing: bool) -> bool {
        if query == self.query {
            self.typed = None;
            return false;
        }
        if !typing {
            self.typed = None;
            return self.set_query(query);
        }
        if self.typed.as_ref().is_none_or(|typed| typed.query != query) {
            self.keystrokes += 1;
            self.typed = Some(Typed { query, keystroke: self.keystrokes, timed: false, due: false });
        }
        false
    }

    /// Starts the contexts list over when the query changed; false when it is the same.
    pub fn set_query(&mut self, query: ContextQuery) -> bool {
        if query == self.query {
            return false;
        }
        self.queries += 1;
        self.contexts = PagedList::new(self.queries, self.contexts_total(&query));
        self.query = query;
        true
    }

    /// The row count of a contexts query when the counters give it: all contexts, unfiltered.
    fn contexts_total(&self, query: &ContextQuery) -> Option<usize> {
        let filtered = query.health.is_some() || query.connector.is_some() || query.search.is_some();
        (!filtered).then_some(self.stats.contexts as usize)
    }

    /// New totals: counts follow, held pages are read again (shown meanwhile).
    pub fn set_stats(&mut self, stats: PlatformStats) {
        self.contexts.set_total(self.contexts_total(&self.query));
        self.stats = stats;
        self.listing.set_total(Some(self.listed_total(&self.listed)));
        self.contexts.refresh();
        self.listing.refresh();
    }

    /// Makes the listing hold `listed`, starting it over when it held something else.
    pub fn list(&mut self, listed: Listed) {
        if listed != self.listed {
            self.queries += 1;
            self.listing = PagedList::new(self.queries, Some(self.listed_total(&listed)));
            self.listed = listed;
        }
    }

    /// Counted by the server's totals, per connector and health.
    fn listed_total(&self, listed: &Listed) -> usize {
        let totals = match &listed.connector {
            None => self.stats.health,
            Some(slug) => self
                .stats
                .connectors
                .iter()
                .find(|connector| connector.slug == *slug)
                .map_or_else(HealthTotals::default, |connector| connector.health),
        };
        let count = |health: Option<Health>| health.map_or(totals.total(), |health| totals.get(health));
        listed.healths().into_iter().map(count).sum::<u64>() as usize
    }

    pub fn totals(&self) -> HealthCounts {
        counts(&self.stats.health)
    }

    /// Each connector's counts, for [`crate::tui::data::Data::set_server_counts`].
    pub fn connector_counts(&self) -> HashMap<String, HealthCounts> {
        self.stats.connectors.iter().map(|connector| (connector.slug.clone(), counts(&connector.health))).collect()
    }

    /// Notes that `context`'s connections are loaded; returns the contexts to forget.
    pub fn open(&mut self, context: &str) -> Vec<String> {
        self.opened.retain(|open| open != context);
        self.opened.push_back(context.to_owned());
        let excess = self.opened.len().saturating_sub(OPEN_CONTEXTS);
        self.opened.drain(..excess).collect()
    }
}

fn counts(totals: &HealthTotals) -> HealthCounts {
    let mut counts = HealthCounts::default();
    for health in Health::ALL {
        counts.0[health.rank()] = totals.get(health) as usize;
    }
    counts
}

/// The contexts query of a remote-backed list: the filter's terms, and the sort when the
/// server offers it (health, id, connection count).
pub fn context_query(filter: &Filter, sort: Option<Sort>) -> Result<ContextQuery, String> {
    let mut query = filter.context_query()?;
    if let Some(sort) = sort {
        query.sort = match sort.column {
            SortColumn::Health => ContextOrder::Health,
            SortColumn::Connections => ContextOrder::Connections,
            SortColumn::ExternalId => ContextOrder::ExternalId,
            other => return Err(format!("the server does not sort contexts by {}", other.name())),
        };
        // The server's health order puts errors last ascending, as the column's does.
        query.descending = sort.descending;
    }
    Ok(query)
}
