use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Connector;

/// One context's link to one connector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub enabled: bool,
    pub connector: Connector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Authorization>,
    /// Extension: the owning context, set on the bulk `GET /connections` listing so that one
    /// request can page through a whole platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextRef>,
}

/// The owning context of a connection in bulk listings (same shape as in webhook payloads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ContextRef {
    pub external_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_name: Option<String>,
}

/// The credential side of a connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Authorization {
    /// `number | string` in xkit.js; kept as text here.
    #[serde(default, deserialize_with = "id_as_string", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub status: AuthorizationStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_label: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The credential under its older name (seed 004); equal to `credential` when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// The credential under its newer name (seed 002).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizer: Option<Authorizer>,
    /// Extension: when the access token expires, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Extension: when the access token was last refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Extension: the last transient refresh failure, if the latest attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_error: Option<String>,
    /// Extension: when `status` last changed (how long the connection has been in its state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_changed_at: Option<DateTime<Utc>>,
}

impl Authorization {
    /// The credential, whichever name the server used; empty strings count as absent.
    pub fn secret(&self) -> Option<&str> {
        self.credential.as_deref().or(self.access_token.as_deref()).filter(|value| !value.is_empty())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Authorizer {
    #[serde(default)]
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prototype: Option<AuthorizerPrototype>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AuthorizerPrototype {
    pub name: String,
    pub slug: String,
}

/// The four statuses xkit.js knows, plus whatever else a server may send.
///
/// An unknown string is kept rather than rejected, so a newer server never breaks a client.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum AuthorizationStatus {
    #[default]
    AwaitingCallback,
    RetrievingTokens,
    Active,
    Error,
    Unknown(String),
}

impl AuthorizationStatus {
    pub fn as_str(&self) -> &str {
        match self {
            Self::AwaitingCallback => "awaiting_callback",
            Self::RetrievingTokens => "retrieving_tokens",
            Self::Active => "active",
            Self::Error => "error",
            Self::Unknown(other) => other,
        }
    }

    pub fn parse(value: &str) -> Self {
        match value {
            "awaiting_callback" => Self::AwaitingCallback,
            "retrieving_tokens" => Self::RetrievingTokens,
            "active" => Self::Active,
            "error" => Self::Error,
            other => Self::Unknown(other.to_owned()),
        }
    }
}

impl fmt::Display for AuthorizationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AuthorizationStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuthorizationStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(Self::parse(&text))
    }
}

fn id_as_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(match value {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(text)) => Some(text),
        Some(other) => Some(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_and_fields_are_tolerated() {
        let json = r#"{"id": 42, "status": "revoked_by_admin", "brand_new_field": [1, 2]}"#;
        let authorization: Authorization = serde_json::from_str(json).unwrap();
        assert_eq!(authorization.id.as_deref(), Some("42"));
        assert_eq!(authorization.status, AuthorizationStatus::Unknown("revoked_by_admin".into()));
        assert_eq!(serde_json::to_value(&authorization.status).unwrap(), "revoked_by_admin");
    }

    #[test]
    fn known_statuses_round_trip() {
        for word in ["awaiting_callback", "retrieving_tokens", "active", "error"] {
            let status = AuthorizationStatus::parse(word);
            assert!(!matches!(status, AuthorizationStatus::Unknown(_)), "{word} should be known");
            assert_eq!(status.as_str(), word);
        }
    }

    #[test]
    fn secret_prefers_credential_and_ignores_empty_values() {
        let mut authorization = Authorization { access_token: Some("old".into()), ..Default::default() };
        assert_eq!(authorization.secret(), Some("old"));
        authorization.credential = Some("new".into());
        assert_eq!(authorization.secret(), Some("new"));
        authorization.credential = Some(String::new());
        authorization.access_token = Some(String::new());
        assert_eq!(authorization.secret(), None);
    }
}
