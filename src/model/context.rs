use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Health;

/// A user, company or any grouping that owns connections (seed 000).
///
/// Keys other than `external_id` and `external_name` are the app's custom attributes: they are
/// stored as given and returned with the context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Context {
    pub external_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
    /// Extension, on the listings of servers that maintain it: the most severe health of the
    /// context's connections (`Health::severity`); absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Extension, on the same listings: how many connections the context has, disabled included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_count: Option<u64>,
    #[serde(flatten)]
    pub attributes: Map<String, Value>,
}

impl Context {
    pub fn new(external_id: impl Into<String>) -> Self {
        Self { external_id: external_id.into(), ..Self::default() }
    }

    /// The friendly name when there is one, else the id.
    pub fn label(&self) -> &str {
        self.external_name.as_deref().filter(|name| !name.is_empty()).unwrap_or(&self.external_id)
    }
}
