use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{AuthorizationStatus, Connection};

/// The one health definition used by the dashboard, the CLI and the server.
///
/// Variants are declared healthiest first, so `Ord` ranks them: when a context holds several
/// connections to one connector, the smallest health wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    /// Enabled and authorization `active`.
    Active,
    /// Enabled and `awaiting_callback` or `retrieving_tokens`.
    Pending,
    /// A status string this build does not know.
    Unknown,
    /// Enabled with an `error` authorization, or enabled with none at all.
    Error,
    /// `enabled = false`.
    Disabled,
    /// No connection for that context and connector.
    NotInstalled,
}

impl Health {
    pub const ALL: [Health; 6] =
        [Health::Active, Health::Pending, Health::Unknown, Health::Error, Health::Disabled, Health::NotInstalled];

    /// The position in [`Health::ALL`], healthiest first: the one ordering of health, used by
    /// per-health counters and by the server's stored rank.
    pub const fn rank(self) -> usize {
        self as usize
    }

    /// Derives the health of a connection, or of its absence.
    pub fn of(connection: Option<&Connection>) -> Self {
        let Some(connection) = connection else { return Health::NotInstalled };
        if !connection.enabled {
            return Health::Disabled;
        }
        match connection.authorization.as_ref().map(|authorization| &authorization.status) {
            None | Some(AuthorizationStatus::Error) => Health::Error,
            Some(AuthorizationStatus::Active) => Health::Active,
            Some(AuthorizationStatus::AwaitingCallback | AuthorizationStatus::RetrievingTokens) => Health::Pending,
            Some(AuthorizationStatus::Unknown(_)) => Health::Unknown,
        }
    }

    /// How badly a health needs attention, higher is worse: error, unknown, pending, active,
    /// disabled, not installed. A context is shown with its most severe connection (the server
    /// maintains it as `contexts.severity`).
    pub const fn severity(self) -> u8 {
        match self {
            Health::Error => 5,
            Health::Unknown => 4,
            Health::Pending => 3,
            Health::Active => 2,
            Health::Disabled => 1,
            Health::NotInstalled => 0,
        }
    }

    /// The health of [`Health::severity`] `severity`, `None` for a number no health has.
    pub fn of_severity(severity: u8) -> Option<Self> {
        Health::ALL.into_iter().find(|health| health.severity() == severity)
    }

    /// True for the healths an on-call engineer must look at (triage, `check` exit code 1).
    pub fn needs_attention(self) -> bool {
        matches!(self, Health::Error | Health::Unknown)
    }

    /// The word shown next to the colour, so nothing depends on colour alone.
    pub fn word(self) -> &'static str {
        match self {
            Health::Active => "active",
            Health::Pending => "pending",
            Health::Unknown => "unknown",
            Health::Error => "error",
            Health::Disabled => "disabled",
            Health::NotInstalled => "not installed",
        }
    }

    /// The symbol shown next to the word (and alone where space is short).
    pub fn symbol(self) -> &'static str {
        match self {
            Health::Active => "●",
            Health::Pending => "◐",
            Health::Unknown => "?",
            Health::Error => "✗",
            Health::Disabled => "○",
            Health::NotInstalled => "·",
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

impl FromStr for Health {
    type Err = String;

    /// Accepts the words of [`Health::word`], with `_` or `-` for the space.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let normalized = text.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        Health::ALL.into_iter().find(|health| health.word() == normalized).ok_or_else(|| {
            format!(
                "unknown health {text:?}; expected one of: active, pending, unknown, error, disabled, not_installed"
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Authorization, Connector};

    fn connection(enabled: bool, status: Option<&str>) -> Connection {
        Connection {
            id: "c1".into(),
            enabled,
            connector: Connector { name: "Slack".into(), slug: "slack".into(), ..Default::default() },
            authorization: status
                .map(|status| Authorization { status: AuthorizationStatus::parse(status), ..Default::default() }),
            context: None,
        }
    }

    #[test]
    fn enabled_and_active_is_active() {
        assert_eq!(Health::of(Some(&connection(true, Some("active")))), Health::Active);
    }

    #[test]
    fn enabled_and_in_flight_is_pending() {
        assert_eq!(Health::of(Some(&connection(true, Some("awaiting_callback")))), Health::Pending);
        assert_eq!(Health::of(Some(&connection(true, Some("retrieving_tokens")))), Health::Pending);
    }

    #[test]
    fn enabled_with_error_or_no_authorization_is_error() {
        assert_eq!(Health::of(Some(&connection(true, Some("error")))), Health::Error);
        assert_eq!(Health::of(Some(&connection(true, None))), Health::Error);
    }

    #[test]
    fn disabled_wins_over_any_status() {
        for status in [Some("active"), Some("error"), Some("awaiting_callback"), Some("mystery"), None] {
            assert_eq!(Health::of(Some(&connection(false, status))), Health::Disabled, "{status:?}");
        }
    }

    #[test]
    fn no_connection_is_not_installed() {
        assert_eq!(Health::of(None), Health::NotInstalled);
    }

    #[test]
    fn unknown_status_is_unknown() {
        assert_eq!(Health::of(Some(&connection(true, Some("suspended")))), Health::Unknown);
    }

    #[test]
    fn healthiest_sorts_first() {
        let mut healths = vec![Health::Disabled, Health::Error, Health::Pending, Health::Active];
        healths.sort();
        assert_eq!(healths, vec![Health::Active, Health::Pending, Health::Error, Health::Disabled]);
    }

    #[test]
    fn rank_is_the_position_in_all_and_follows_ord() {
        for (position, health) in Health::ALL.into_iter().enumerate() {
            assert_eq!(health.rank(), position);
        }
        assert!(Health::ALL.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn every_health_has_a_distinct_word_and_symbol() {
        for (i, a) in Health::ALL.iter().enumerate() {
            for b in &Health::ALL[i + 1..] {
                assert_ne!(a.word(), b.word());
                assert_ne!(a.symbol(), b.symbol());
            }
            assert_eq!(a.word().parse::<Health>(), Ok(*a));
        }
        assert_eq!("not_installed".parse::<Health>(), Ok(Health::NotInstalled));
        assert!("fine".parse::<Health>().is_err());
    }

    #[test]
    fn severities_are_distinct_and_round_trip() {
        for health in Health::ALL {
            assert_eq!(Health::of_severity(health.severity()), Some(health));
        }
        assert_eq!(Health::of_severity(9), None);
    }

    #[test]
    fn only_error_and_unknown_need_attention() {
        let flagged: Vec<Health> = Health::ALL.into_iter().filter(|health| health.needs_attention()).collect();
        assert_eq!(flagged, vec![Health::Unknown, Health::Error]);
    }
}
