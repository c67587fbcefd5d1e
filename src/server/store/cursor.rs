//! Keyset pages and their opaque cursors: a cursor is the last key of a page, tagged with the
//! listing it belongs to.
//!
//! A cursor is `base64url("<listing>:<key>")`. Clients treat it as opaque; the server refuses a
//! cursor minted for another listing rather than silently returning the wrong page.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::error::StoreError;

/// Which ordering a cursor continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Listing {
    Contexts,
    /// Contexts in an order other than by `external_id` ascending.
    SortedContexts,
    Connectors,
    Connections,
    Events,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Listing::Contexts => "ctx",
            Listing::SortedContexts => "cts",
            Listing::Connectors => "con",
            Listing::Connections => "cnx",
            Listing::Events => "evt",
        }
    }
}

pub(super) fn encode(listing: Listing, key: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}:{key}", listing.tag()))
}

pub(super) fn decode(listing: Listing, cursor: &str) -> Result<String, StoreError> {
    let invalid = || StoreError::Invalid("invalid cursor".into());
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (tag, key) = text.split_once(':').ok_or_else(invalid)?;
    if tag != listing.tag() {
        return Err(invalid());
    }
    Ok(key.to_owned())
}

/// A sequence-number cursor (connections are ordered by their insertion sequence).
pub(super) fn decode_seq(cursor: &str) -> Result<i64, StoreError> {
    decode(Listing::Connections, cursor)?.parse().map_err(|_| StoreError::Invalid("invalid cursor".into()))
}

/// One page of a keyset-paginated listing.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Opaque; pass it back as `cursor` to get the next page. `None` on the last page.
    pub next_cursor: Option<String>,
}

/// Where a listing starts and how much it returns.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: usize,
    pub cursor: Option<String>,
}

/// Fetches one more row than asked so the page knows whether another follows.
pub(super) fn into_page<T>(mut items: Vec<T>, limit: usize, key_of: impl Fn(&T) -> String) -> Page<T> {
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(key_of)
    } else {
        None
    };
    Page { items, next_cursor }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_listing() {
        let cursor = encode(Listing::Contexts, "acme:co/1");
        assert_eq!(decode(Listing::Contexts, &cursor).unwrap(), "acme:co/1");
        assert!(decode(Listing::Connectors, &cursor).is_err());
        assert!(decode(Listing::Contexts, "not base64 !").is_err());
        assert_eq!(decode_seq(&encode(Listing::Connections, "42")).unwrap(), 42);
        assert!(decode_seq(&encode(Listing::Connections, "x")).is_err());
    }
}
