//! Following `next_cursor` through a paged listing: the one loop every listing of the crate
//! (scan, dashboard, CLI) uses, so a server whose cursors loop cannot hang any of them.

use std::collections::HashSet;
use std::future::Future;
use std::hash::{BuildHasher as _, RandomState};

use futures::Stream;

use super::error::ClientError;
use crate::model::{ConnectionsPage, ConnectorsPage, ContextsPage};

/// A listing longer than this many pages is treated as a runaway server: 20,000 pages hold
/// millions of rows at any sensible page size (the crate asks for 200 to 500), and the
/// rows themselves are budgeted by the scan.
pub(super) const MAX_PAGES: usize = 20_000;

/// A page of a cursor-paged listing.
pub trait CursorPage {
    /// The cursor of the next page; `None` or empty on the last page.
    fn next_cursor(&self) -> Option<&str>;
}

impl CursorPage for ContextsPage {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }
}

impl CursorPage for ConnectorsPage {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }
}

impl CursorPage for ConnectionsPage {
    fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref()
    }
}

/// Every page of a listing of `server`, at most `max_pages` of them: see [`super::Client::pages`].
pub(super) fn pages_up_to<P, F, Fut>(
    server: String,
    max_pages: usize,
    fetch: F,
) -> impl Stream<Item = Result<P, ClientError>>
where
    P: CursorPage,
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<P, ClientError>>,
{
    struct Walk<F> {
        server: String,
        fetch: F,
        cursor: Option<String>,
        /// Hashes of the cursors handed out: a few bytes each, however long the server makes
        /// them. A false "repeated" needs a 64-bit collision within one listing.
        seen: HashSet<u64>,
        hasher: RandomState,
    }
    let start = Walk { server, fetch, cursor: None, seen: HashSet::new(), hasher: RandomState::new() };
    futures::stream::try_unfold(Some(start), move |walk| async move {
        let Some(mut walk) = walk else { return Ok(None) };
        let page = (walk.fetch)(walk.cursor.take()).await?;
        let Some(next) = page.next_cursor().filter(|next| !next.is_empty()) else {
            return Ok(Some((page, None)));
        };
        if !walk.seen.insert(walk.hasher.hash_one(next)) {
            return Err(ClientError::InvalidResponse(format!(
                "the server at {} handed out the same page cursor twice (its listing would never end)",
                walk.server
            )));
        }
        if walk.seen.len() >= max_pages {
            return Err(ClientError::LimitReached(format!(
                "the server at {} listed more than {max_pages} pages; stopped there",
                walk.server
            )));
        }
        walk.cursor = Some(next.to_owned());
        Ok(Some((page, Some(walk))))
    })
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt as _;

    use super::*;
    use crate::model::Connector;

    const SERVER: &str = "http://hostile.example/api/platform";

    fn page(slug: &str, next_cursor: Option<&str>) -> ConnectorsPage {
        ConnectorsPage {
            connectors: vec![Connector { slug: slug.into(), ..Default::default() }],
            next_cursor: next_cursor.map(str::to_owned),
        }
    }

    /// Serves `script` as a listing keyed by cursor and records the cursors asked for.
    async fn walk(
        max_pages: usize,
        script: &[(Option<&str>, ConnectorsPage)],
    ) -> (Result<Vec<String>, ClientError>, Vec<Option<String>>) {
        let mut asked = Vec::new();
        let result = pages_up_to(SERVER.into(), max_pages, |cursor: Option<String>| {
            asked.push(cursor.clone());
            let answer = script
                .iter()
                .find(|(key, _)| key.map(str::to_owned) == cursor)
                .map(|(_, page)| page.clone())
                .ok_or_else(|| ClientError::NotFound(format!("no page at {cursor:?}")));
            async move { answer }
        })
        .map_ok(|page| page.connectors[0].slug.clone())
        .try_collect()
        .await;
        (result, asked)
    }

    #[tokio::test]
    async fn pages_are_yielded_in_order_until_a_page_has_no_cursor() {
        let script =
            [(None, page("a", Some("c1"))), (Some("c1"), page("b", Some("c2"))), (Some("c2"), page("c", None))];
        let (slugs, asked) = walk(MAX_PAGES, &script).await;
        assert_eq!(slugs.unwrap(), ["a", "b", "c"]);
        assert_eq!(asked, [None, Some("c1".into()), Some("c2".into())]);
    }

    #[tokio::test]
    async fn an_empty_cursor_ends_the_listing() {
        let script = [(None, page("a", Some("c1"))), (Some("c1"), page("b", Some("")))];
        let (slugs, asked) = walk(MAX_PAGES, &script).await;
        assert_eq!(slugs.unwrap(), ["a", "b"]);
        assert_eq!(asked.len(), 2, "no request with an empty cursor");
    }

    #[tokio::test]
    async fn a_repeated_cursor_is_refused_even_in_a_longer_cycle() {
        for script in [
            vec![(None, page("a", Some("c1"))), (Some("c1"), page("b", Some("c1")))],
            vec![
                (None, page("a", Some("c1"))),
                (Some("c1"), page("b", Some("c2"))),
                (Some("c2"), page("c", Some("c1"))),
            ],
        ] {
            let (result, asked) = walk(MAX_PAGES, &script).await;
            assert!(
                matches!(result, Err(ClientError::InvalidResponse(ref message)) if message.contains("same page cursor twice") && message.contains(SERVER))
            );
            assert_eq!(asked.len(), script.len(), "stops at the page that repeats a cursor");
        }
    }

    #[tokio::test]
    async fn a_runaway_listing_is_cut_off_and_errors_end_the_stream() {
        let mut served = 0;
        let result: Result<Vec<_>, _> = pages_up_to(SERVER.into(), 5, |_| {
            served += 1;
            let page = page("x", Some(&format!("c{served}")));
            async move { Ok(page) }
        })
        .try_collect()
        .await;
        assert!(
            matches!(result, Err(ClientError::LimitReached(ref message)) if message.contains("5 pages") && message.contains(SERVER))
        );
        assert_eq!(served, 5);

        let script = [(None, page("a", Some("gone")))];
        let (result, asked) = walk(MAX_PAGES, &script).await;
        assert!(matches!(result, Err(ClientError::NotFound(_))));
        assert_eq!(asked.len(), 2);
    }
}
