//! Repair links: short-lived, single-use catalog links minted by the `repair_link` route and
//! recognised by the catalog pages.

use chrono::{DateTime, Utc};

use super::error::ApiError;
use super::secret::{random_token, secret_hash};
use super::state::AppState;
use crate::model::RepairLink;

/// Repair tokens are recognisable, so a link never has to guess which kind it carries.
pub const REPAIR_TOKEN_PREFIX: &str = "xkrt_";

/// A single-use link to the catalog page of `slug` for `external_id`; only the token's hash is
/// stored.
pub async fn mint_repair_link(state: &AppState, external_id: String, slug: String) -> Result<RepairLink, ApiError> {
    let token = format!("{REPAIR_TOKEN_PREFIX}{}", random_token(32));
    let ttl = chrono::Duration::from_std(state.repair_link_ttl).unwrap_or(chrono::Duration::MAX);
    let expires_at = Utc::now().checked_add_signed(ttl).unwrap_or(DateTime::<Utc>::MAX_UTC);
    state.store.add_repair_token(secret_hash(&token), external_id, slug.clone(), expires_at).await?;
    let mut url = state.refresher.provider().urls().public_path("connectors/");
    url.path_segments_mut()
        .map_err(|()| ApiError::bad_request("the public URL cannot be a base"))?
        .pop_if_empty()
        .push(&slug);
    url.query_pairs_mut().append_pair("token", &token);
    Ok(RepairLink { url: url.into(), expires_at: Some(expires_at) })
}
