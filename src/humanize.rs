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

/// How long ago `since` was, in its largest whole unit, for a narrow column: `<1m`, `3m`,
/// `2h`, `5d`.
pub fn age(since: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - since).num_seconds().max(0);
    match seconds {
        0..60 => "<1m".to_owned(),
        60..3600 => format!("{}m", seconds / 60),
        3600..86400 => format!("{}h", seconds / 3600),
        _ => format!("{}d", seconds / 86400),
    }
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

    #[test]
    fn ages_take_their_largest_unit() {
        let now = Utc::now();
        let ago = |seconds| age(now - chrono::Duration::seconds(seconds), now);
        assert_eq!(
            [ago(5), ago(200), ago(2 * 3600 + 3000), ago(5 * 86400 + 7), ago(-30)],
            ["<1m", "3m", "2h", "5d", "<1m"]
        );
    }
}
