//! Seed files: the JSON format of the demo platform (`assets/demo-platform.json`) and of
//! `serve --seed FILE`. Parsing is strict (unknown fields are errors, so typos surface) and
//! every problem is reported with its place in the file before anything is stored.
//!
//! Times are RFC 3339 (`2025-05-01T12:00:00Z`) or relative to the moment of loading
//! (`now`, `now+50m`, `now-3d 4h`), so a dataset's tokens can stay "fresh" or "expired".

use std::collections::HashSet;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::Deserialize;

use super::store::{
    AuthorizationRecord, ConnectorOAuth, ConnectorRecord, ImportBatch, NewConnection, SandboxClientConfig,
    SandboxGrantSeed, SandboxSeed,
};
use super::validate;
use crate::model::{AuthorizationStatus, Connector, Context, Platform};

/// The bundled demo platform.
pub const DEMO: &str = include_str!("../../assets/demo-platform.json");

/// Errors listed before giving up, so a long file is not fixed one error per run.
const MAX_REPORTED_ERRORS: usize = 20;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    platform: Option<SeedPlatform>,
    #[serde(default)]
    connectors: Vec<SeedConnector>,
    #[serde(default)]
    contexts: Vec<Context>,
    #[serde(default)]
    connections: Vec<SeedConnection>,
    /// Clients and grants of the sandbox OAuth2 provider (`/sandbox/oauth/...`).
    #[serde(default)]
    sandbox: SeedSandbox,
    /// Web origins whose pages may call the Platform User API (xkit.js), `scheme://host[:port]`.
    #[serde(default)]
    origins: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSandbox {
    #[serde(default)]
    clients: Vec<SeedSandboxClient>,
    /// Grants that exist from the start: the seeded connections' refresh tokens, so that they
    /// really refresh.
    #[serde(default)]
    grants: Vec<SeedSandboxGrant>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSandboxClient {
    client_id: String,
    client_secret: String,
    name: String,
    /// Absolute URIs, or paths of this server (`/catalog/oauth/callback`).
    redirect_uris: Vec<String>,
    /// Access token lifetime (`1h`, `90s`).
    #[serde(default = "default_access_ttl")]
    access_token_ttl: String,
    /// Refresh token lifetime; absent: they only end by rotation or revocation.
    #[serde(default)]
    refresh_token_ttl: Option<String>,
}

fn default_access_ttl() -> String {
    "1h".to_owned()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedSandboxGrant {
    client_id: String,
    subject: String,
    #[serde(default)]
    scope: String,
    refresh_token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedPlatform {
    name: String,
    slug: String,
    #[serde(default)]
    custom_domain: Option<String>,
    #[serde(default)]
    website: Option<String>,
    #[serde(default)]
    login_redirect_url: Option<String>,
    #[serde(default)]
    remove_branding: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedConnector {
    slug: String,
    name: String,
    #[serde(default)]
    short_description: String,
    #[serde(default)]
    mark_url: String,
    #[serde(default)]
    about: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    supports_multiple_connections: bool,
    /// Server-side OAuth2 client settings (token refresh, catalog authorization); never served.
    /// URLs may be paths of this server (`/sandbox/oauth/token`).
    #[serde(default)]
    oauth: Option<SeedOAuth>,
    /// For connectors without OAuth2 (API keys): the field xkit.js's
    /// `setAuthorizationFields` submits whose value becomes the credential.
    #[serde(default)]
    credential_field: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedOAuth {
    authorize_url: String,
    token_url: String,
    client_id: String,
    client_secret: String,
    #[serde(default)]
    scopes: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedConnection {
    id: String,
    /// The owning context's `external_id`.
    context: String,
    /// The connector's slug.
    connector: String,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    #[serde(default)]
    authorization: Option<SeedAuthorization>,
}

fn enabled_by_default() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SeedAuthorization {
    status: String,
    #[serde(default)]
    display_label: Option<String>,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    error_message: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    authorize_url: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    last_refreshed_at: Option<String>,
    #[serde(default)]
    refresh_error: Option<String>,
}

/// Parses and validates a seed document; `origin` names it in error messages.
pub fn parse(text: &str, origin: &str) -> Result<ImportBatch> {
    let file: SeedFile = serde_json::from_str(text).map_err(|error| anyhow::anyhow!("{origin}: {error}"))?;
    let mut problems = Problems::default();
    let now = Utc::now();

    let platform = file.platform.map(|platform| {
        problems.check("platform.slug", validate::slug(&platform.slug));
        if platform.name.trim().is_empty() {
            problems.push("platform.name", "must not be empty".into());
        }
        Platform {
            name: platform.name,
            slug: platform.slug,
            custom_domain: platform.custom_domain,
            website: platform.website,
            login_redirect_url: platform.login_redirect_url,
            remove_branding: platform.remove_branding,
        }
    });

    let mut connector_slugs = HashSet::new();
    let connectors = file
        .connectors
        .into_iter()
        .enumerate()
        .map(|(index, seed)| {
            let at = format!("connectors[{index}]");
            problems.check(&format!("{at}.slug"), validate::slug(&seed.slug));
            if !connector_slugs.insert(seed.slug.clone()) {
                problems.push(&format!("{at}.slug"), format!("duplicate connector slug {:?}", seed.slug));
            }
            if seed.name.trim().is_empty() {
                problems.push(&format!("{at}.name"), "must not be empty".into());
            }
            if let Some(field) = &seed.credential_field {
                if field.is_empty() || field == "state" || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    problems.push(
                        &format!("{at}.credential_field"),
                        format!("{field:?} must be a field name of letters, digits and '_' (not \"state\")"),
                    );
                }
                if seed.oauth.is_some() {
                    problems.push(
                        &format!("{at}.credential_field"),
                        "a connector collects a field or has OAuth2 settings, not both".into(),
                    );
                }
            }
            let oauth = seed.oauth.map(|oauth| {
                for (field, url) in [("authorize_url", &oauth.authorize_url), ("token_url", &oauth.token_url)] {
                    if !is_http_url_or_path(url) {
                        problems
                            .push(&format!("{at}.oauth.{field}"), format!("{url:?} is not an http(s) URL or a path"));
                    }
                }
                ConnectorOAuth {
                    authorize_url: oauth.authorize_url,
                    token_url: oauth.token_url,
                    client_id: oauth.client_id,
                    client_secret: SecretString::from(oauth.client_secret),
                    scopes: oauth.scopes,
                }
            });
            ConnectorRecord {
                connector: Connector {
                    name: seed.name,
                    slug: seed.slug,
                    short_description: seed.short_description,
                    mark_url: seed.mark_url,
                    about: seed.about,
                    description: seed.description,
                    supports_multiple_connections: seed.supports_multiple_connections,
                },
                oauth,
                credential_field: seed.credential_field,
            }
        })
        .collect();

    let mut context_ids = HashSet::new();
    for (index, context) in file.contexts.iter().enumerate() {
        let at = format!("contexts[{index}].external_id");
        problems.check(&at, validate::external_id(&context.external_id));
        problems.check(
            &format!("contexts[{index}].external_name"),
            validate::external_name(context.external_name.as_deref()),
        );
        if !context_ids.insert(context.external_id.as_str()) {
            problems.push(&at, format!("duplicate context {:?}", context.external_id));
        }
    }

    let mut connection_ids = HashSet::new();
    let connections = file
        .connections
        .into_iter()
        .enumerate()
        .map(|(index, seed)| {
            let at = format!("connections[{index}]");
            problems.check(
                &format!("{at}.id"),
                validate::external_id(&seed.id).map_err(|error| error.replace("external_id", "id")),
            );
            if !connection_ids.insert(seed.id.clone()) {
                problems.push(&format!("{at}.id"), format!("duplicate connection id {:?}", seed.id));
            }
            if !context_ids.contains(seed.context.as_str()) {
                problems.push(&format!("{at}.context"), format!("no context {:?} in this file", seed.context));
            }
            if !connector_slugs.contains(&seed.connector) {
                problems.push(&format!("{at}.connector"), format!("no connector {:?} in this file", seed.connector));
            }
            let authorization = seed.authorization.map(|seed| {
                let at = format!("{at}.authorization");
                if seed.status.trim().is_empty() {
                    problems.push(&format!("{at}.status"), "must not be empty".into());
                }
                let mut time = |field: &str, value: Option<String>| {
                    value.and_then(|value| match parse_time(&value, now) {
                        Ok(time) => Some(time),
                        Err(error) => {
                            problems.push(&format!("{at}.{field}"), error);
                            None
                        }
                    })
                };
                let expires_at = time("expires_at", seed.expires_at);
                let last_refreshed_at = time("last_refreshed_at", seed.last_refreshed_at);
                AuthorizationRecord {
                    status: AuthorizationStatus::parse(&seed.status),
                    display_label: seed.display_label,
                    error_code: seed.error_code,
                    error_message: seed.error_message,
                    access_token: seed.access_token.map(SecretString::from),
                    refresh_token: seed.refresh_token.map(SecretString::from),
                    authorize_url: seed.authorize_url,
                    state: seed.state,
                    expires_at,
                    last_refreshed_at,
                    refresh_error: seed.refresh_error,
                }
            });
            NewConnection {
                id: seed.id,
                context_external_id: seed.context,
                connector_slug: seed.connector,
                enabled: seed.enabled,
                authorization,
            }
        })
        .collect();

    let sandbox = sandbox_seed(file.sandbox, &mut problems);
    let origins = file
        .origins
        .iter()
        .enumerate()
        .filter_map(|(index, web_origin)| match validate::web_origin(web_origin) {
            Ok(web_origin) => Some(web_origin),
            Err(error) => {
                problems.push(&format!("origins[{index}]"), error);
                None
            }
        })
        .collect();
    problems.finish(origin)?;
    Ok(ImportBatch { platform, connectors, contexts: file.contexts, connections, sandbox, origins })
}

fn sandbox_seed(seed: SeedSandbox, problems: &mut Problems) -> SandboxSeed {
    let mut client_ids = HashSet::new();
    let clients = seed
        .clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| {
            let at = format!("sandbox.clients[{index}]");
            if client.client_id.is_empty() || !client_ids.insert(client.client_id.clone()) {
                problems
                    .push(&format!("{at}.client_id"), format!("empty or duplicate client id {:?}", client.client_id));
            }
            for (uri_index, uri) in client.redirect_uris.iter().enumerate() {
                if !is_http_url_or_path(uri) {
                    problems.push(
                        &format!("{at}.redirect_uris[{uri_index}]"),
                        format!("{uri:?} is not an http(s) URL or a path"),
                    );
                }
            }
            let mut duration = |field: &str, text: &str| match humantime::parse_duration(text) {
                Ok(duration) if !duration.is_zero() => Some(duration),
                _ => {
                    problems.push(&format!("{at}.{field}"), format!("{text:?} is not a duration such as 1h or 30d"));
                    None
                }
            };
            let access_ttl = duration("access_token_ttl", &client.access_token_ttl).unwrap_or_default();
            let refresh_ttl = client.refresh_token_ttl.as_deref().and_then(|text| duration("refresh_token_ttl", text));
            SandboxClientConfig {
                client_id: client.client_id,
                client_secret: SecretString::from(client.client_secret),
                name: client.name,
                redirect_uris: client.redirect_uris,
                access_ttl,
                refresh_ttl,
            }
        })
        .collect();
    let grants = seed
        .grants
        .into_iter()
        .enumerate()
        .map(|(index, grant)| {
            if !client_ids.contains(&grant.client_id) {
                problems.push(
                    &format!("sandbox.grants[{index}].client_id"),
                    format!("no sandbox client {:?} in this file", grant.client_id),
                );
            }
            if grant.refresh_token.is_empty() {
                problems.push(&format!("sandbox.grants[{index}].refresh_token"), "must not be empty".into());
            }
            SandboxGrantSeed {
                client_id: grant.client_id,
                subject: grant.subject,
                scope: grant.scope,
                refresh_token: SecretString::from(grant.refresh_token),
            }
        })
        .collect();
    SandboxSeed { clients, grants }
}

/// An absolute http(s) URL, or a path of this server.
fn is_http_url_or_path(text: &str) -> bool {
    if text.starts_with('/') {
        return !text.starts_with("//");
    }
    url::Url::parse(text).is_ok_and(|url| matches!(url.scheme(), "http" | "https"))
}

/// `now`, `now+1h 30m`, `now-3d`, or an RFC 3339 timestamp.
fn parse_time(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let invalid = || format!("{text:?} is neither RFC 3339 nor now, now+DURATION or now-DURATION");
    if let Some(offset) = text.strip_prefix("now") {
        if offset.is_empty() {
            return Ok(now);
        }
        let (sign, duration) = offset.split_at(1);
        let duration = humantime::parse_duration(duration.trim()).map_err(|_| invalid())?;
        let duration = chrono::Duration::from_std(duration).map_err(|_| invalid())?;
        return match sign {
            "+" => Ok(now + duration),
            "-" => Ok(now - duration),
            _ => Err(invalid()),
        };
    }
    DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)).map_err(|_| invalid())
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, at: &str, message: String) {
        self.0.push(format!("{at}: {message}"));
    }

    fn check(&mut self, at: &str, result: Result<(), String>) {
        if let Err(message) = result {
            self.push(at, message);
        }
    }

    fn finish(self, origin: &str) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let count = self.0.len();
        let shown: Vec<_> = self.0.into_iter().take(MAX_REPORTED_ERRORS).collect();
        let more =
            if count > shown.len() { format!("\n  ... and {} more", count - shown.len()) } else { String::new() };
        bail!("{origin} is not a valid seed file ({count} problems):\n  {}{more}", shown.join("\n  "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_platform_is_valid_and_large_enough() {
        let batch = parse(DEMO, "demo").unwrap();
        assert!(batch.connectors.len() >= 12);
        assert!(batch.contexts.len() >= 60);
        assert!(batch.connections.len() >= 300);
        assert!(batch.origins.is_empty(), "no page origin is trusted until the operator adds one");
    }

    #[test]
    fn relative_and_absolute_times() {
        let now = Utc::now();
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("now+1h", now).unwrap(), now + chrono::Duration::hours(1));
        assert_eq!(parse_time("now-2d 3h", now).unwrap(), now - chrono::Duration::hours(51));
        assert_eq!(parse_time("2025-01-02T03:04:05Z", now).unwrap().to_rfc3339(), "2025-01-02T03:04:05+00:00");
        assert!(parse_time("tomorrow", now).is_err());
        assert!(parse_time("now*3h", now).is_err());
    }

    #[test]
    fn every_problem_is_named_with_its_place() {
        let text = r#"{
            "platform": {"name": "", "slug": "Bad Slug"},
            "connectors": [{"slug": "slack", "name": "Slack"}, {"slug": "slack", "name": "Slack again"}],
            "contexts": [{"external_id": ""}, {"external_id": "u1"}],
            "connections": [
                {"id": "c1", "context": "u2", "connector": "slak"},
                {"id": "c2", "context": "u1", "connector": "slack", "authorization": {"status": "active", "expires_at": "soon"}}
            ],
            "origins": ["https://app.example.com/", "https://app.example.com/login"]
        }"#;
        let message = parse(text, "my.json").unwrap_err().to_string();
        for expected in [
            "my.json is not a valid seed file",
            "platform.name: must not be empty",
            "platform.slug:",
            "connectors[1].slug: duplicate connector slug \"slack\"",
            "contexts[0].external_id: external_id must not be empty",
            "connections[0].context: no context \"u2\"",
            "connections[0].connector: no connector \"slak\"",
            "connections[1].authorization.expires_at: \"soon\" is neither",
            "origins[1]: \"https://app.example.com/login\" is not an origin",
        ] {
            assert!(message.contains(expected), "missing {expected:?} in:\n{message}");
        }
    }

    /// A connector collects one named field, or has OAuth2 settings; the demo has one such.
    #[test]
    fn credential_fields_are_names_and_exclude_oauth() {
        let text = r#"{"connectors": [
            {"slug": "a", "name": "A", "credential_field": "api key"},
            {"slug": "b", "name": "B", "credential_field": "state"},
            {"slug": "c", "name": "C", "credential_field": "api_key",
             "oauth": {"authorize_url": "/x", "token_url": "/y", "client_id": "c", "client_secret": "s"}},
            {"slug": "d", "name": "D", "credential_field": "api_key"}
        ]}"#;
        let message = parse(text, "fields.json").unwrap_err().to_string();
        assert!(message.contains("(3 problems)"), "{message}");
        for expected in [
            "connectors[0].credential_field: \"api key\" must be a field name",
            "connectors[1].credential_field: \"state\" must be a field name",
            "connectors[2].credential_field: a connector collects a field or has OAuth2 settings, not both",
        ] {
            assert!(message.contains(expected), "missing {expected:?} in:\n{message}");
        }
        let demo = parse(DEMO, "demo").unwrap();
        let fields: Vec<_> = demo.connectors.iter().filter_map(|record| record.credential_field.as_deref()).collect();
        assert_eq!(fields, ["api_key"]);
    }

    #[test]
    fn unknown_fields_and_bad_json_are_refused() {
        let typo = parse(r#"{"conectors": []}"#, "typo.json").unwrap_err().to_string();
        assert!(typo.contains("typo.json") && typo.contains("conectors"), "{typo}");
        assert!(parse("{", "broken.json").unwrap_err().to_string().contains("broken.json"));
    }
}
