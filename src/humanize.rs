//! Human readings of values, shared by the dashboard and the CLI.

use chrono::{DateTime, Utc};

/// A relative, human reading of a timestamp: `in 3h 2m`, `5m ago`.
pub fn relative_time(time: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let delta = time - now;
    let magnitude = delta.abs().to_std().unwrap_or_default();
    // Seconds are noise in a table.
    let rounded = std::time::Duration::from_secs(magnitude.as_secs() / 60 * 60);
    let text = if rounded.is_zero() { "<1m".to_owned() } else { humantime::format_duration(rounded).to_string() };
    if delta.num_seconds() >= 0 { format!("in {text}") } else { format!("{text} ago") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_times_read_naturally() {
        let now = Utc::now();
        assert_eq!(relative_time(now + chrono::Duration::seconds(3 * 3600 + 125), now), "in 3h 2m");
        assert_eq!(relative_time(now - chrono::Duration::seconds(300), now), "5m ago");
        assert_eq!(relative_time(now + chrono::Duration::seconds(10), now), "in <1m");
    }
}
