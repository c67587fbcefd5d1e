//! The `/` filter: case-insensitive substrings, plus field terms.
//!
//! `acme slack` keeps rows containing both words (in ids, names, connector or status);
//! `status:error`, `connector:slack`, `context:acme` restrict one field. Terms are ANDed.
//! On the contexts and connectors lists a `status:` or `connector:` term keeps the rows that
//! own at least one matching connection, so `status:error` narrows every pane to failures.

use std::str::FromStr as _;

use crate::model::{Connection, Connector, Context, ContextQuery, Health};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Term {
    Text(String),
    /// As typed (matches raw statuses like `awaiting_callback`) and with `_` as a space
    /// (matches health words like `not installed`).
    Status(String, String),
    Connector(String),
    Context(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

impl Filter {
    pub fn parse(query: &str) -> Self {
        let terms = query
            .split_whitespace()
            .filter_map(|word| {
                let lower = word.to_lowercase();
                let term = match lower.split_once(':') {
                    Some(("status" | "health" | "s", value)) => Term::Status(value.to_owned(), value.replace('_', " ")),
                    Some(("connector" | "c", value)) => Term::Connector(value.to_owned()),
                    Some(("context" | "ctx" | "x", value)) => Term::Context(value.to_owned()),
                    _ => Term::Text(lower),
                };
                match &term {
                    Term::Text(value) | Term::Status(value, _) | Term::Connector(value) | Term::Context(value)
                        if value.is_empty() =>
                    {
                        None
                    }
                    _ => Some(term),
                }
            })
            .collect();
        Self { terms }
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The bulk listing's filters a remote-backed connections listing asks the server: the
    /// `status:` and `connector:` terms (the last of each wins); true when other words were
    /// left out (the listing has no search).
    pub fn connection_terms(&self) -> (Option<Health>, Option<String>, bool) {
        let (mut health, mut connector, mut left_out) = (None, None, false);
        for term in &self.terms {
            match term {
                Term::Status(raw, _) => match Health::from_str(raw) {
                    Ok(parsed) => health = Some(parsed),
                    Err(_) => left_out = true,
                },
                Term::Connector(slug) => connector = Some(slug.clone()),
                Term::Text(_) | Term::Context(_) => left_out = true,
            }
        }
        (health, connector, left_out)
    }

    /// The query a remote-backed contexts list asks the server: a `status:` term becomes
    /// `status=`, a `connector:` term `connector=`, the other words `search=` (the last of
    /// each field wins). An error names a status the server does not know.
    pub fn context_query(&self) -> Result<ContextQuery, String> {
        let mut query = ContextQuery::default();
        let mut words = Vec::new();
        for term in &self.terms {
            match term {
                Term::Status(raw, _) => query.health = Some(Health::from_str(raw)?),
                Term::Connector(slug) => query.connector = Some(slug.clone()),
                Term::Text(word) | Term::Context(word) => words.push(word.as_str()),
            }
        }
        query.search = (!words.is_empty()).then(|| words.join(" "));
        Ok(query)
    }

    pub fn matches_connection(&self, connection: &Connection) -> bool {
        self.terms.iter().all(|term| connection_term(term, connection))
    }

    /// `connections` are the context's own connections.
    pub fn matches_context<'a>(
        &self,
        context: &Context,
        connections: impl Iterator<Item = &'a Connection> + Clone,
    ) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Text(needle) | Term::Context(needle) => context_matches(context, needle),
            Term::Status(..) | Term::Connector(_) => {
                connections.clone().any(|connection| connection_term(term, connection))
            }
        })
    }

    /// A connector whose counts per health stand for its connections (remote-backed panes):
    /// `status:` keeps it when it has connections of that health; `context:` keeps it.
    pub fn matches_connector_counted(&self, connector: &Connector, count: impl Fn(Health) -> usize) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Text(needle) | Term::Connector(needle) => connector_matches(connector, needle),
            Term::Status(raw, _) => Health::from_str(raw).is_ok_and(|health| count(health) > 0),
            Term::Context(_) => true,
        })
    }

    /// `connections` are every loaded connection to this connector.
    pub fn matches_connector<'a>(
        &self,
        connector: &Connector,
        connections: impl Iterator<Item = &'a Connection> + Clone,
    ) -> bool {
        self.terms.iter().all(|term| match term {
            Term::Text(needle) | Term::Connector(needle) => connector_matches(connector, needle),
            Term::Status(..) | Term::Context(_) => {
                connections.clone().any(|connection| connection_term(term, connection))
            }
        })
    }
}

fn connection_term(term: &Term, connection: &Connection) -> bool {
    match term {
        Term::Text(needle) => {
            contains(&connection.id, needle)
                || connector_matches(&connection.connector, needle)
                || status_matches(connection, needle, needle)
                || connection.context.as_ref().is_some_and(|context| {
                    contains(&context.external_id, needle)
                        || context.external_name.as_deref().is_some_and(|name| contains(name, needle))
                })
                || connection
                    .authorization
                    .as_ref()
                    .and_then(|authorization| authorization.display_label.as_deref())
                    .is_some_and(|label| contains(label, needle))
        }
        Term::Status(raw, spaced) => status_matches(connection, raw, spaced),
        Term::Connector(needle) => connector_matches(&connection.connector, needle),
        Term::Context(needle) => connection.context.as_ref().is_some_and(|context| {
            contains(&context.external_id, needle)
                || context.external_name.as_deref().is_some_and(|name| contains(name, needle))
        }),
    }
}

fn status_matches(connection: &Connection, raw: &str, spaced: &str) -> bool {
    contains(Health::of(Some(connection)).word(), spaced)
        || connection.authorization.as_ref().is_some_and(|authorization| contains(authorization.status.as_str(), raw))
}

fn connector_matches(connector: &Connector, needle: &str) -> bool {
    contains(&connector.slug, needle) || contains(&connector.name, needle)
}

fn context_matches(context: &Context, needle: &str) -> bool {
    contains(&context.external_id, needle)
        || context.external_name.as_deref().is_some_and(|name| contains(name, needle))
}

/// Case-insensitive substring test; `needle` is already lowercase. Avoids allocating for ASCII
/// haystacks, which is what ids and slugs are, because a filter change scans every row.
fn contains(haystack: &str, needle: &str) -> bool {
    if haystack.is_ascii() && needle.is_ascii() {
        let (haystack, needle) = (haystack.as_bytes(), needle.as_bytes());
        needle.is_empty() || haystack.windows(needle.len()).any(|window| window.eq_ignore_ascii_case(needle))
    } else {
        haystack.to_lowercase().contains(needle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Authorization, AuthorizationStatus, ContextRef};

    fn connection(id: &str, slug: &str, context: &str, status: &str) -> Connection {
        Connection {
            id: id.into(),
            enabled: true,
            connector: Connector { name: slug.to_uppercase(), slug: slug.into(), ..Default::default() },
            authorization: Some(Authorization { status: AuthorizationStatus::parse(status), ..Default::default() }),
            context: Some(ContextRef { external_id: context.into(), external_name: Some(format!("{context} Inc")) }),
        }
    }

    #[test]
    fn empty_query_matches_everything() {
        let filter = Filter::parse("   ");
        assert!(filter.is_empty());
        assert!(filter.matches_connection(&connection("c1", "slack", "acme", "active")));
    }

    #[test]
    fn text_terms_search_ids_names_connector_and_status() {
        let row = connection("conn-42", "slack", "acme", "error");
        for query in ["CONN-42", "slack", "Slack", "acme inc", "error", "acme slack"] {
            assert!(Filter::parse(query).matches_connection(&row), "{query}");
        }
        for query in ["github", "acme github", "active"] {
            assert!(!Filter::parse(query).matches_connection(&row), "{query}");
        }
    }

    #[test]
    fn field_terms_restrict_one_field() {
        let row = connection("slack-1", "github", "acme", "awaiting_callback");
        assert!(Filter::parse("status:pending").matches_connection(&row));
        assert!(Filter::parse("status:awaiting_callback").matches_connection(&row));
        assert!(!Filter::parse("status:error").matches_connection(&row));
        // The id contains "slack" but the connector does not.
        assert!(Filter::parse("slack").matches_connection(&row));
        assert!(!Filter::parse("connector:slack").matches_connection(&row));
        assert!(Filter::parse("context:acme connector:git").matches_connection(&row));
        assert!(!Filter::parse("context:globex").matches_connection(&row));
    }

    #[test]
    fn contexts_match_through_their_connections() {
        let context = Context { external_id: "acme".into(), external_name: Some("Acme".into()), ..Default::default() };
        let connections = [connection("1", "slack", "acme", "active"), connection("2", "github", "acme", "error")];
        assert!(Filter::parse("status:error").matches_context(&context, connections.iter()));
        assert!(Filter::parse("acme connector:github").matches_context(&context, connections.iter()));
        assert!(!Filter::parse("status:disabled").matches_context(&context, connections.iter()));
        assert!(!Filter::parse("globex").matches_context(&context, connections.iter()));
    }

    #[test]
    fn connectors_match_through_their_connections() {
        let connector = Connector { name: "Slack".into(), slug: "slack".into(), ..Default::default() };
        let connections = [connection("1", "slack", "acme", "error")];
        assert!(Filter::parse("status:error").matches_connector(&connector, connections.iter()));
        assert!(Filter::parse("context:acme").matches_connector(&connector, connections.iter()));
        assert!(!Filter::parse("status:active").matches_connector(&connector, connections.iter()));
        assert!(Filter::parse("connector:sla").matches_connector(&connector, std::iter::empty()));
    }

    #[test]
    fn non_ascii_text_matches_case_insensitively() {
        assert!(contains("Ünïcode Café", "café"));
        assert!(!contains("Ünïcode", "cafe"));
    }
}
