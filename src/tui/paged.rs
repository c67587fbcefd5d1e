//! A virtual list over a keyset-paged listing: the rows of a few pages around the window,
//! placeholders for the rest, and the cursors that reach further pages.
//!
//! Row `i` is on page `i / PAGE`. A keyset listing cannot jump to row N: page `k` is read from
//! the cursor the page before it returned (forward), or, when the row count is known, from the
//! cursor the page after it returned in the reverse order (backward; the last page needs
//! none, so `G` costs one request). A page with no known cursor is reached by walking from the
//! nearest known one, a page at a time, in the background: the rows read on the way are
//! dropped, only their cursors (a few dozen bytes a page) are kept. Only pages next to the
//! window are held, so memory follows the screen, not the platform.

use std::collections::{BTreeMap, HashMap, HashSet};

/// Rows per page asked of the server.
pub const PAGE: usize = 100;

/// One page to read: which, from which cursor, in which order, how many rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// The list's query generation: answers to an older query are dropped.
    pub generation: u64,
    pub page: usize,
    pub cursor: Option<String>,
    /// Read in the reverse order (the rows arrive last first).
    pub backward: bool,
    pub limit: usize,
}

/// What a row of the window shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Row<'a, T> {
    Loaded(&'a T),
    /// Its page is being read (or will be): a placeholder is drawn.
    Loading,
}

#[derive(Debug, Clone)]
pub struct PagedList<T> {
    pub generation: u64,
    /// The row count the server's totals give, when they give one.
    total: Option<usize>,
    /// The exact row count, once a forward read reached the end.
    found: Option<usize>,
    pages: BTreeMap<usize, Vec<T>>,
    /// Loaded pages read before a refresh: shown until read again.
    stale: HashSet<usize>,
    /// The cursor that reads page `k` forward (page 0 needs none).
    forward: HashMap<usize, String>,
    /// The cursor that reads page `k` backward (the last page needs none).
    backward: HashMap<usize, String>,
    in_flight: Option<PageRequest>,
    /// The pages the window shows plus the next one, first and last.
    wanted: (usize, usize),
    /// The last read failed: no new read until [`PagedList::refresh`].
    pub error: Option<String>,
}

impl<T> PagedList<T> {
    /// An empty list; `total` is the row count when the server's totals say it.
    pub fn new(generation: u64, total: Option<usize>) -> Self {
        Self {
            generation,
            total,
            found: None,
            pages: BTreeMap::new(),
            stale: HashSet::new(),
            forward: HashMap::new(),
            backward: HashMap::new(),
            in_flight: None,
            wanted: (0, 1),
            error: None,
        }
    }

    /// The rows the list has: exact once its end was read, else the server's total, else the
    /// pages known to exist (it grows as it is scrolled).
    pub fn len(&self) -> usize {
        if let Some(found) = self.found {
            return found;
        }
        if let Some(total) = self.total {
            return total;
        }
        let known = self.forward.keys().chain(self.pages.keys()).max().map_or(0, |&last| last + 1);
        known * PAGE
    }

    /// The rows known to exist: all of them once counted; else the pages before the last one
    /// known, which are full (each said there was a next).
    pub fn at_least(&self) -> usize {
        if self.is_counted() {
            return self.len();
        }
        self.len().saturating_sub(PAGE)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the row count is exact (the server's totals or a read of the end).
    pub fn is_counted(&self) -> bool {
        self.found.is_some() || self.total.is_some()
    }

    /// A new total from the server's counters (a refresh).
    pub fn set_total(&mut self, total: Option<usize>) {
        self.total = total;
    }

    pub fn row(&self, position: usize) -> Row<'_, T> {
        match self.pages.get(&(position / PAGE)).and_then(|page| page.get(position % PAGE)) {
            Some(row) => Row::Loaded(row),
            None => Row::Loading,
        }
    }

    pub fn loaded(&self, position: usize) -> Option<&T> {
        match self.row(position) {
            Row::Loaded(row) => Some(row),
            Row::Loading => None,
        }
    }

    /// Every loaded row, for patching after an event.
    pub fn rows_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.pages.values_mut().flatten()
    }

    /// How many pages are held (bounded: the window's, the next and the previous).
    pub fn pages_held(&self) -> usize {
        self.pages.len()
    }

    pub fn is_reading(&self) -> bool {
        self.in_flight.is_some()
    }

    fn last_page(&self) -> Option<usize> {
        let len = self.found.or(self.total)?;
        Some(len.saturating_sub(1) / PAGE)
    }

    /// The window moved to `rows` rows from `first`: drops the pages away from it.
    pub fn show(&mut self, first: usize, rows: usize) {
        let first_page = first / PAGE;
        let mut last_page = (first + rows.max(1) - 1) / PAGE + 1;
        if let Some(last) = self.last_page() {
            last_page = last_page.min(last);
        }
        self.wanted = (first_page, last_page.max(first_page));
        let keep = first_page.saturating_sub(1)..=last_page + 1;
        self.pages.retain(|page, _| keep.contains(page));
        self.stale.retain(|page| keep.contains(page));
    }

    /// Marks every held page for a new read (shown meanwhile) and clears a failure.
    pub fn refresh(&mut self) {
        self.stale.extend(self.pages.keys().copied());
        self.error = None;
    }

    /// The next read the window needs, if none is in flight and none failed. Missing pages
    /// come first, then stale ones.
    pub fn next_request(&mut self) -> Option<PageRequest> {
        if self.in_flight.is_some() || self.error.is_some() || (self.is_counted() && self.is_empty()) {
            return None;
        }
        let (first, last) = self.wanted;
        // Pages that exist: up to the last one when counted, else those a cursor reaches.
        let known_pages = match self.last_page() {
            Some(last) => last + 1,
            None => (self.len() / PAGE).max(1),
        };
        let wanted = (first..=last).filter(|&page| page < known_pages);
        let target = wanted
            .clone()
            .find(|page| !self.pages.contains_key(page))
            .or_else(|| wanted.clone().find(|page| self.stale.contains(page)))?;
        let request = self.route(target);
        self.in_flight = Some(request.clone());
        Some(request)
    }

    /// How to read `target`: directly from a known cursor, or the first step of a walk from
    /// the nearest one.
    fn route(&self, target: usize) -> PageRequest {
        let last = self.last_page();
        let forward = |page: usize| PageRequest {
            generation: self.generation,
            page,
            cursor: (page > 0).then(|| self.forward[&page].clone()),
            backward: false,
            limit: PAGE,
        };
        let backward = |page: usize| {
            let len = self.found.or(self.total).unwrap_or(0);
            let limit = if Some(page) == last { len - page * PAGE } else { PAGE };
            PageRequest {
                generation: self.generation,
                page,
                cursor: (Some(page) != last).then(|| self.backward[&page].clone()),
                backward: true,
                limit,
            }
        };
        let reads_forward = |page: usize| page == 0 || self.forward.contains_key(&page);
        let reads_backward = |page: usize| Some(page) == last || self.backward.contains_key(&page);
        if reads_forward(target) {
            return forward(target);
        }
        if reads_backward(target) {
            return backward(target);
        }
        let from_front = (0..target).rev().find(|&page| reads_forward(page)).unwrap_or(0);
        let from_back = last.and_then(|last| (target..=last).find(|&page| reads_backward(page)));
        match from_back {
            Some(back) if back - target < target - from_front => backward(back),
            _ => forward(from_front),
        }
    }

    /// A read answered: keeps its cursor, and its rows when the window still wants them.
    /// False when it was not this list's read in flight (an older query's).
    pub fn arrive(&mut self, request: &PageRequest, mut rows: Vec<T>, next_cursor: Option<String>) -> bool {
        if self.in_flight.as_ref() != Some(request) {
            return false;
        }
        self.in_flight = None;
        let page = request.page;
        if request.backward {
            rows.reverse();
            if let Some(cursor) = next_cursor
                && page > 0
            {
                self.backward.insert(page - 1, cursor);
            }
        } else {
            match next_cursor {
                Some(cursor) => {
                    self.forward.insert(page + 1, cursor);
                }
                None => self.found = Some(page * PAGE + rows.len()),
            }
        }
        let keep = self.wanted.0.saturating_sub(1)..=self.wanted.1 + 1;
        self.stale.remove(&page);
        if keep.contains(&page) {
            self.pages.insert(page, rows);
        }
        true
    }

    /// A read failed: shown in the pane; nothing is read again until a refresh.
    pub fn fail(&mut self, request: &PageRequest, error: String) -> bool {
        if self.in_flight.as_ref() != Some(request) {
            return false;
        }
        self.in_flight = None;
        self.error = Some(error);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves `count` numbered rows the way a keyset listing does, cursors being row numbers.
    fn answer(count: usize, request: &PageRequest) -> (Vec<usize>, Option<String>) {
        let start: usize =
            request.cursor.as_deref().map_or(if request.backward { count } else { 0 }, |c| c.parse().unwrap());
        if request.backward {
            let from = start.saturating_sub(request.limit);
            let rows: Vec<usize> = (from..start).rev().collect();
            (rows, (from > 0).then(|| from.to_string()))
        } else {
            let to = (start + request.limit).min(count);
            ((start..to).collect(), (to < count).then(|| to.to_string()))
        }
    }

    /// Reads until the window is complete, returning how many reads it took.
    fn settle(list: &mut PagedList<usize>, count: usize) -> usize {
        let mut reads = 0;
        while let Some(request) = list.next_request() {
            let (rows, next) = answer(count, &request);
            assert!(list.arrive(&request, rows, next));
            reads += 1;
            assert!(reads < 10_000, "bounded");
        }
        reads
    }

    #[test]
    fn the_window_and_the_next_page_are_read_and_rows_keep_their_place() {
        let mut list = PagedList::new(1, Some(1_000));
        list.show(0, 20);
        assert_eq!(list.row(5), Row::Loading, "a placeholder before the page arrives");
        assert_eq!(settle(&mut list, 1_000), 2, "the window's page and the next one (prefetch)");
        assert_eq!(list.row(5), Row::Loaded(&5));
        assert_eq!(list.row(150), Row::Loaded(&150));
        assert_eq!(list.len(), 1_000);
    }

    #[test]
    fn the_end_is_one_backward_read_and_the_middle_a_walk_from_the_nearest_cursor() {
        let count = 200_050;
        let mut list = PagedList::new(1, Some(count));
        list.show(count - 20, 20);
        let request = list.next_request().unwrap();
        assert!(request.backward && request.cursor.is_none());
        assert_eq!(request.limit, 50, "the last page is exactly the rows past the last full page");
        let (rows, next) = answer(count, &request);
        list.arrive(&request, rows, next);
        assert_eq!(list.row(count - 1), Row::Loaded(&(count - 1)));
        assert_eq!(list.row(count - 50), Row::Loaded(&(count - 50)));
        list.show(count - 120, 20);
        assert_eq!(settle(&mut list, count), 1, "the page before: one backward read");
        assert_eq!(list.row(count - 120), Row::Loaded(&(count - 120)));
        // A jump to the middle walks from the front or the back, never holding more than the
        // window's pages.
        list.show(100_020, 20);
        let reads = settle(&mut list, count);
        assert!(reads <= 1_002, "{reads} reads");
        assert_eq!(list.row(100_030), Row::Loaded(&100_030));
        assert!(list.pages_held() <= 4, "{} pages held", list.pages_held());
        // A later jump near it reuses the cursors found on the way.
        list.show(100_500, 20);
        assert_eq!(settle(&mut list, count), 2, "the window's page and the next, from kept cursors");
        assert_eq!(list.row(100_500), Row::Loaded(&100_500));
    }

    #[test]
    fn an_uncounted_list_grows_as_it_is_scrolled_and_finds_its_end() {
        let mut list = PagedList::new(1, None);
        list.show(0, 20);
        settle(&mut list, 250);
        assert_eq!(list.len(), 300, "two pages read, a third known to exist");
        assert!(!list.is_counted());
        assert_eq!(list.at_least(), 200, "the two full pages read: the third may hold a single row");
        list.show(280, 20);
        settle(&mut list, 250);
        assert_eq!(list.len(), 250);
        assert!(list.is_counted());
        assert_eq!(list.at_least(), 250);
    }

    #[test]
    fn answers_of_another_read_are_dropped_and_failures_wait_for_a_refresh() {
        let mut list: PagedList<usize> = PagedList::new(2, Some(500));
        list.show(0, 20);
        let request = list.next_request().unwrap();
        let old = PageRequest { generation: 1, ..request.clone() };
        assert!(!list.arrive(&old, vec![9], None));
        assert!(list.fail(&request, "boom".into()));
        assert!(list.next_request().is_none(), "no retry loop");
        list.refresh();
        assert!(list.next_request().is_some());
    }

    #[test]
    fn a_refresh_reads_held_pages_again_while_showing_them() {
        let mut list = PagedList::new(1, Some(500));
        list.show(0, 20);
        settle(&mut list, 500);
        list.refresh();
        let request = list.next_request().unwrap();
        assert_eq!(list.row(3), Row::Loaded(&3), "the old rows stay until the new ones arrive");
        list.arrive(&request, vec![7; 100], Some("100".into()));
        assert_eq!(list.row(3), Row::Loaded(&7));
    }
}
