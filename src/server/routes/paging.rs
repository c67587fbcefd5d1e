//! `limit` and `cursor`, the paging parameters of every list route.

use serde::Deserialize;

use crate::server::error::ApiError;
use crate::server::store::PageRequest;

/// Page size when a list request names none, and the most a request may ask for.
const DEFAULT_LIMIT: usize = 100;
pub(super) const MAX_LIMIT: usize = 1000;

/// `limit` and `cursor` of the list routes that take nothing else.
#[derive(Deserialize)]
pub(super) struct PageQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

impl PageQuery {
    pub(super) fn page(self) -> Result<PageRequest, ApiError> {
        page_request(self.limit, self.cursor)
    }
}

/// `limit` and `cursor` of every list route.
pub(super) fn page_request(limit: Option<usize>, cursor: Option<String>) -> Result<PageRequest, ApiError> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(ApiError::bad_request("limit must be between 1 and 1000")),
        Some(limit) => limit.min(MAX_LIMIT),
    };
    Ok(PageRequest { limit, cursor: cursor.filter(|cursor| !cursor.is_empty()) })
}
