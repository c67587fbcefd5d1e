use serde::{Deserialize, Serialize};

/// The platform an app configured on Xkit (`GET /api/platform_user/platform`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Platform {
    pub name: String,
    pub slug: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_redirect_url: Option<String>,
    #[serde(default)]
    pub remove_branding: bool,
}

impl Platform {
    /// Xkit's hosted catalog: `https://{custom_domain or slug.xkit.co}`.
    pub fn hosted_catalog_url(&self) -> String {
        match &self.custom_domain {
            Some(domain) if !domain.is_empty() => format!("https://{domain}"),
            _ => format!("https://{}.xkit.co", self.slug),
        }
    }
}

/// A third-party app users connect to (`PublicConnector` in xkit.js).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Connector {
    pub name: String,
    pub slug: String,
    #[serde(default)]
    pub short_description: String,
    #[serde(default)]
    pub mark_url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub about: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub supports_multiple_connections: bool,
}
