//! `GET /stats` and `GET /stats/history` (extensions): the platform's totals per health and per
//! connector, from counters the store keeps with every change (so the answer costs the same at any
//! size); and errors, recoveries, refreshes and transient failures per time bucket, for the
//! platform and per connector: what the dashboard's 24-hour chart draws.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::model::{PlatformStats, StatsHistory};
use crate::server::error::ApiError;
use crate::server::extract::ApiQuery;
use crate::server::state::AppState;
use crate::server::store::StatsWindow;

/// The most buckets one answer holds (a week of hours, a day of five-minute buckets...).
pub const MAX_BUCKETS: i64 = 400;
const DEFAULT_SINCE: Duration = Duration::from_secs(24 * 3600);
const DEFAULT_BUCKET: Duration = Duration::from_secs(3600);

pub(super) fn router() -> Router<AppState> {
    Router::new().route("/stats", get(stats)).route("/stats/history", get(history))
}

async fn stats(State(state): State<AppState>) -> Result<Json<PlatformStats>, ApiError> {
    Ok(Json(state.store.stats().await?))
}

#[derive(Deserialize)]
struct HistoryQuery {
    /// A duration back from now (`24h`) or an RFC 3339 time.
    since: Option<String>,
    /// A duration (`1h`, `5m`), at least a second.
    bucket: Option<String>,
}

async fn history(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<StatsHistory>, ApiError> {
    let window = window(query, Utc::now()).map_err(ApiError::bad_request)?;
    Ok(Json(state.store.stats_history(window).await?))
}

/// The buckets asked for: `since` aligned down to a multiple of the bucket (so hourly buckets
/// start on the hour), up to the end of the bucket holding `now`.
fn window(query: HistoryQuery, now: DateTime<Utc>) -> Result<StatsWindow, String> {
    let non_empty = |value: Option<String>| value.filter(|value| !value.trim().is_empty());
    let bucket = match non_empty(query.bucket) {
        None => DEFAULT_BUCKET,
        Some(text) => humantime::parse_duration(text.trim())
            .map_err(|_| format!("bucket must be a duration such as 1h or 5m, not {:?}", clip(&text)))?,
    };
    let bucket_seconds = i64::try_from(bucket.as_secs()).unwrap_or(i64::MAX);
    if bucket_seconds < 1 {
        return Err("bucket must be at least 1s".into());
    }
    let since = match non_empty(query.since) {
        None => now - DEFAULT_SINCE,
        Some(text) => parse_since(text.trim(), now).ok_or_else(|| {
            format!("since must be a duration such as 24h or an RFC 3339 time, not {:?}", clip(&text))
        })?,
    };
    if since > now {
        return Err("since must not be in the future".into());
    }
    let aligned = since.timestamp() - since.timestamp().rem_euclid(bucket_seconds);
    let buckets = (now.timestamp() - aligned) / bucket_seconds + 1;
    if buckets > MAX_BUCKETS {
        return Err(format!(
            "{buckets} buckets asked for; at most {MAX_BUCKETS}: ask for a larger bucket or a later since"
        ));
    }
    let since = DateTime::from_timestamp(aligned, 0).ok_or("since is out of range")?;
    let until = DateTime::from_timestamp(aligned + buckets * bucket_seconds, 0).ok_or("since is out of range")?;
    Ok(StatsWindow { since, until, bucket_seconds })
}

/// A duration back from `now`, or an RFC 3339 time.
fn parse_since(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.to_utc());
    }
    let back = chrono::Duration::from_std(humantime::parse_duration(text).ok()?).ok()?;
    now.checked_sub_signed(back)
}

/// A bad value as echoed in an error: never longer than a short line.
fn clip(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(since: &str, bucket: &str) -> HistoryQuery {
        HistoryQuery { since: Some(since.into()), bucket: Some(bucket.into()) }
    }

    #[test]
    fn hourly_buckets_start_on_the_hour_and_cover_now() {
        let now = DateTime::parse_from_rfc3339("2026-03-01T10:25:00Z").unwrap().to_utc();
        let window = window(query("24h", "1h"), now).unwrap();
        assert_eq!(window.since.to_rfc3339(), "2026-02-28T10:00:00+00:00");
        assert_eq!(window.until.to_rfc3339(), "2026-03-01T11:00:00+00:00");
        assert_eq!(window.bucket_seconds, 3600);
        let window = window_of("2026-03-01T09:59:59Z", "15m", now);
        assert_eq!(
            (window.since.to_rfc3339().as_str(), window.until.to_rfc3339().as_str()),
            ("2026-03-01T09:45:00+00:00", "2026-03-01T10:30:00+00:00")
        );
    }

    fn window_of(since: &str, bucket: &str, now: DateTime<Utc>) -> StatsWindow {
        window(query(since, bucket), now).unwrap()
    }

    #[test]
    fn bad_windows_are_refused_with_the_reason() {
        let now = Utc::now();
        for (since, bucket, said) in [
            ("yesterday", "1h", "since must be a duration"),
            ("24h", "often", "bucket must be a duration"),
            ("24h", "0s", "at least 1s"),
            ("365days", "1m", "at most 400"),
            ("2999-01-01T00:00:00Z", "1h", "future"),
        ] {
            let error = window(query(since, bucket), now).unwrap_err();
            assert!(error.contains(said), "{since} {bucket}: {error}");
        }
    }
}
