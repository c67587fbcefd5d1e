//! Extension: `GET /api/platform/stats`, the platform's totals from counters the server keeps
//! up to date with every change.

use serde::{Deserialize, Serialize};

use super::Health;

/// Connections per health (every health a connection can have; `not_installed` is no connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HealthTotals {
    #[serde(default)]
    pub active: u64,
    #[serde(default)]
    pub pending: u64,
    #[serde(default)]
    pub unknown: u64,
    #[serde(default)]
    pub error: u64,
    #[serde(default)]
    pub disabled: u64,
}

impl HealthTotals {
    /// The count of `health` (0 for `NotInstalled`).
    pub fn get(&self, health: Health) -> u64 {
        match health {
            Health::Active => self.active,
            Health::Pending => self.pending,
            Health::Unknown => self.unknown,
            Health::Error => self.error,
            Health::Disabled => self.disabled,
            Health::NotInstalled => 0,
        }
    }

    /// Adds `count` connections of `health` (`NotInstalled` is not counted).
    pub fn add(&mut self, health: Health, count: u64) {
        let slot = match health {
            Health::Active => &mut self.active,
            Health::Pending => &mut self.pending,
            Health::Unknown => &mut self.unknown,
            Health::Error => &mut self.error,
            Health::Disabled => &mut self.disabled,
            Health::NotInstalled => return,
        };
        *slot += count;
    }

    pub fn total(&self) -> u64 {
        self.active + self.pending + self.unknown + self.error + self.disabled
    }
}

/// One connector's connections per health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectorTotals {
    pub slug: String,
    pub connections: u64,
    pub health: HealthTotals,
}

/// The answer of `GET /api/platform/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PlatformStats {
    pub contexts: u64,
    pub connections: u64,
    pub health: HealthTotals,
    /// Every connector, by slug, with zeros for one without connections.
    pub connectors: Vec<ConnectorTotals>,
}
