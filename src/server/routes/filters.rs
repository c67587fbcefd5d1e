//! Query parameters the filtered listings share.

use std::str::FromStr as _;

use crate::model::Health;
use crate::server::error::ApiError;
use crate::server::validate;

/// An empty parameter means the same as an absent one.
pub(super) fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|value| !value.is_empty())
}

/// `status=`: a health word (`active`, `pending`, `unknown`, `error`, `disabled`, `not_installed`).
pub(super) fn status(value: Option<String>) -> Result<Option<Health>, ApiError> {
    non_empty(value).map(|status| Health::from_str(&status)).transpose().map_err(ApiError::bad_request)
}

/// `connector=`: a connector slug, by the same rule as the connectors' own.
pub(super) fn connector(value: Option<String>) -> Result<Option<String>, ApiError> {
    let slug = non_empty(value);
    if let Some(slug) = &slug {
        validate::slug(slug).map_err(|error| ApiError::bad_request(format!("connector: {error}")))?;
    }
    Ok(slug)
}
