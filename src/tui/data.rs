//! Everything loaded from the platform, with the indices the panes need: positions by id,
//! connections per context and per connector, health counts, and the connections that need
//! attention. Indices are maintained as pages arrive, so no pane ever scans the whole data.

use std::collections::{HashMap, HashSet};

use crate::model::{Connection, Connector, Context, ContextRef, Health};

/// Counts per health, indexed like [`Health::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HealthCounts(pub [usize; 6]);

impl HealthCounts {
    pub fn add(&mut self, health: Health) {
        self.0[health.rank()] += 1;
    }

    pub fn get(&self, health: Health) -> usize {
        self.0[health.rank()]
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }
}

/// Everything loaded from the platform, with the indices the panes need.
#[derive(Debug, Clone, Default)]
pub struct Data {
    pub contexts: Vec<Context>,
    pub connectors: Vec<Connector>,
    pub connections: Vec<Connection>,
    context_pos: HashMap<String, usize>,
    connector_pos: HashMap<String, usize>,
    connection_pos: HashMap<String, usize>,
    by_context: HashMap<String, Vec<usize>>,
    by_connector: HashMap<String, Vec<usize>>,
    attention: Vec<usize>,
    pub totals: HealthCounts,
    connector_counts: HashMap<String, HealthCounts>,
    /// Per-connector counts from the server's counters (remote-backed panes, where only a few
    /// contexts' connections are loaded): they stand for the loaded connections' own.
    server_counts: Option<HashMap<String, HealthCounts>>,
}

impl Data {
    pub fn from_parts(contexts: Vec<Context>, connectors: Vec<Connector>, connections: Vec<Connection>) -> Self {
        let mut data = Self::default();
        data.add_contexts(contexts);
        data.add_connectors(connectors);
        data.add_connections(connections);
        data
    }

    /// Appends contexts; one already known by id is replaced in place.
    pub fn add_contexts(&mut self, contexts: Vec<Context>) {
        for context in contexts {
            let key = context.external_id.clone();
            upsert(&mut self.contexts, &mut self.context_pos, key, context);
        }
    }

    /// Appends connectors; one already known by slug is replaced in place.
    pub fn add_connectors(&mut self, connectors: Vec<Connector>) {
        for connector in connectors {
            let key = connector.slug.clone();
            upsert(&mut self.connectors, &mut self.connector_pos, key, connector);
        }
    }

    /// Appends connections and their derived counts; a repeated id replaces the old one and
    /// rebuilds the indices (rare: only when a listing shifts between pages).
    pub fn add_connections(&mut self, connections: Vec<Connection>) {
        let mut replaced = false;
        for mut connection in connections {
            // Every connection arrives with a full copy of its connector; the panes only use
            // its slug and name, so the long texts are dropped (27 MiB at 100,000 connections).
            let connector = &mut connection.connector;
            connector.short_description = String::new();
            connector.mark_url = String::new();
            connector.about = None;
            connector.description = None;
            if let Some(&position) = self.connection_pos.get(&connection.id) {
                self.connections[position] = connection;
                replaced = true;
                continue;
            }
            let position = self.connections.len();
            self.connection_pos.insert(connection.id.clone(), position);
            self.connections.push(connection);
            if !replaced {
                self.index_connection(position);
            }
        }
        if replaced {
            self.reindex_connections();
        }
    }

    /// A loaded connection, to change in place: call [`Data::reindex`] after the changes.
    pub fn connection_mut(&mut self, id: &str) -> Option<&mut Connection> {
        let position = self.connection_pos.get(id).copied()?;
        self.connections.get_mut(position)
    }

    /// Drops a connection and everything derived from it; false when it was not loaded.
    pub fn remove_connection(&mut self, id: &str) -> bool {
        let Some(position) = self.connection_pos.remove(id) else { return false };
        self.connections.remove(position);
        for later in self.connection_pos.values_mut().filter(|later| **later > position) {
            *later -= 1;
        }
        self.reindex_connections();
        true
    }

    /// Recomputes the counts, the per-context and per-connector lists and triage after
    /// connections changed in place.
    pub fn reindex(&mut self) {
        self.reindex_connections();
    }

    fn index_connection(&mut self, position: usize) {
        let connection = &self.connections[position];
        let health = Health::of(Some(connection));
        if let Some(context) = &connection.context {
            self.by_context.entry(context.external_id.clone()).or_default().push(position);
        }
        self.by_connector.entry(connection.connector.slug.clone()).or_default().push(position);
        self.connector_counts.entry(connection.connector.slug.clone()).or_default().add(health);
        self.totals.add(health);
        if health.needs_attention() {
            self.attention.push(position);
        }
    }

    fn reindex_connections(&mut self) {
        self.by_context.clear();
        self.by_connector.clear();
        self.connector_counts.clear();
        self.attention.clear();
        self.totals = HealthCounts::default();
        for position in 0..self.connections.len() {
            self.index_connection(position);
        }
    }

    /// Adds the contexts and connectors that connections refer to but no listing returned
    /// (a server without the list extensions, or a listing that failed).
    pub fn adopt_referenced(&mut self) {
        let mut contexts = Vec::new();
        let mut connectors = Vec::new();
        let mut seen = HashSet::new();
        for connection in &self.connections {
            if !self.connector_pos.contains_key(&connection.connector.slug) && seen.insert(&connection.connector.slug) {
                connectors.push(connection.connector.clone());
            }
            if let Some(ContextRef { external_id, external_name }) = &connection.context
                && !self.context_pos.contains_key(external_id)
                && seen.insert(external_id)
            {
                contexts.push(Context {
                    external_id: external_id.clone(),
                    external_name: external_name.clone(),
                    ..Default::default()
                });
            }
        }
        self.add_contexts(contexts);
        self.add_connectors(connectors);
    }

    pub fn context_position(&self, external_id: &str) -> Option<usize> {
        self.context_pos.get(external_id).copied()
    }

    pub fn connector_position(&self, slug: &str) -> Option<usize> {
        self.connector_pos.get(slug).copied()
    }

    pub fn connection_position(&self, id: &str) -> Option<usize> {
        self.connection_pos.get(id).copied()
    }

    pub fn connections_of_context(&self, external_id: &str) -> &[usize] {
        self.by_context.get(external_id).map_or(&[], Vec::as_slice)
    }

    pub fn connections_of_connector(&self, slug: &str) -> &[usize] {
        self.by_connector.get(slug).map_or(&[], Vec::as_slice)
    }

    pub fn needing_attention(&self) -> &[usize] {
        &self.attention
    }

    pub fn connector_counts(&self, slug: &str) -> HealthCounts {
        let counts = self.server_counts.as_ref().unwrap_or(&self.connector_counts);
        counts.get(slug).copied().unwrap_or_default()
    }

    /// Takes each connector's counts from the server's counters from now on.
    pub fn set_server_counts(&mut self, counts: HashMap<String, HealthCounts>) {
        self.server_counts = Some(counts);
    }

    /// Whether connector counts come from the server (see [`Data::set_server_counts`]).
    pub fn counted_by_server(&self) -> bool {
        self.server_counts.is_some()
    }

    /// The least healthy connection of a context, for the contexts list.
    pub fn context_health(&self, external_id: &str) -> Option<Health> {
        self.connections_of_context(external_id)
            .iter()
            .map(|&position| Health::of(Some(&self.connections[position])))
            .max_by_key(|health| (health.needs_attention(), *health == Health::Pending, *health != Health::Disabled))
    }
}

/// Appends `item` to a list indexed by key, or replaces in place the item with the same key.
fn upsert<T>(items: &mut Vec<T>, positions: &mut HashMap<String, usize>, key: String, item: T) {
    match positions.get(&key) {
        Some(&position) => items[position] = item,
        None => {
            positions.insert(key, items.len());
            items.push(item);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tui::fixtures::{self, connection, connector};

    fn ids(data: &Data, positions: &[usize]) -> Vec<String> {
        positions.iter().map(|&position| data.connections[position].id.clone()).collect()
    }

    fn fixture_data() -> Data {
        Data::from_parts(fixtures::contexts(), fixtures::connectors(), fixtures::connections())
    }

    #[test]
    fn connections_are_indexed_by_context_connector_and_attention() {
        let data = fixture_data();
        assert_eq!(
            ids(&data, data.connections_of_context("org_acme")),
            ["c-acme-slack", "c-acme-github", "c-acme-drive"]
        );
        assert_eq!(
            ids(&data, data.connections_of_connector("slack")),
            ["c-acme-slack", "c-globex-slack", "c-evil-slack"]
        );
        assert!(data.connections_of_context("nobody").is_empty());
        assert_eq!(ids(&data, data.needing_attention()), ["c-acme-drive", "c-globex-github", "c-evil-slack"]);
        let counts = [Health::Active, Health::Pending, Health::Error, Health::Disabled, Health::Unknown];
        assert_eq!(counts.map(|health| data.totals.get(health)), [1, 1, 2, 1, 1]);
        assert_eq!(data.totals.total(), 6);
        let slack = data.connector_counts("slack");
        assert_eq!(counts.map(|health| slack.get(health)), [1, 0, 1, 1, 0]);
        assert_eq!(data.connector_counts("unknown-slug"), HealthCounts::default());
        assert_eq!(data.context_position("org_globex"), Some(1));
        assert_eq!(data.connector_position("google-drive"), Some(2));
        assert_eq!(data.connection_position("c-evil-slack"), Some(5));
    }

    #[test]
    fn a_repeated_connection_replaces_the_old_one_and_every_count_follows() {
        let mut data = fixture_data();
        let repaired = connection("c-globex-github", "org_globex", connector("github", "GitHub"), true, Some("active"));
        data.add_connections(vec![repaired]);
        assert_eq!(data.connections.len(), 6, "replaced, not appended");
        assert_eq!(data.connection_position("c-globex-github"), Some(4), "in place");
        assert_eq!((data.totals.get(Health::Active), data.totals.get(Health::Unknown)), (2, 0));
        assert_eq!(data.totals.total(), 6, "nothing counted twice");
        assert_eq!(ids(&data, data.needing_attention()), ["c-acme-drive", "c-evil-slack"]);
        assert_eq!(data.connector_counts("github").get(Health::Active), 1);
        assert_eq!(ids(&data, data.connections_of_context("org_globex")), ["c-globex-slack", "c-globex-github"]);
    }

    #[test]
    fn contexts_and_connectors_are_upserted_by_key() {
        let mut data = fixture_data();
        data.add_contexts(vec![fixtures::context("org_globex", "Globex Renamed"), fixtures::context("org_new", "New")]);
        data.add_connectors(vec![connector("slack", "Slack 2")]);
        assert_eq!(data.contexts.len(), 4);
        assert_eq!(data.context_position("org_globex"), Some(1));
        assert_eq!(data.contexts[1].external_name.as_deref(), Some("Globex Renamed"));
        assert_eq!(data.context_position("org_new"), Some(3));
        assert_eq!((data.connectors.len(), data.connectors[0].name.as_str()), (3, "Slack 2"));
    }

    #[test]
    fn contexts_and_connectors_that_only_connections_name_are_adopted() {
        let mut data = Data::from_parts(
            vec![fixtures::context("org_acme", "Acme Corporation")],
            Vec::new(),
            fixtures::connections(),
        );
        data.adopt_referenced();
        let contexts: Vec<&str> = data.contexts.iter().map(|context| context.external_id.as_str()).collect();
        assert_eq!(contexts, ["org_acme", "org_globex", "org_evil"]);
        assert_eq!(data.contexts[0].external_name.as_deref(), Some("Acme Corporation"), "a listed context is kept");
        let connectors: Vec<&str> = data.connectors.iter().map(|connector| connector.slug.as_str()).collect();
        assert_eq!(connectors, ["slack", "github", "google-drive"]);
        data.adopt_referenced();
        assert_eq!((data.contexts.len(), data.connectors.len()), (3, 3), "adopting twice adds nothing");
    }

    #[test]
    fn a_context_shows_its_least_healthy_connection() {
        let data = fixture_data();
        assert_eq!(data.context_health("org_acme"), Some(Health::Error));
        assert_eq!(data.context_health("org_globex"), Some(Health::Unknown), "unknown outranks disabled");
        assert_eq!(data.context_health("org_nobody"), None);
        let slack = || connector("slack", "Slack");
        let data = Data::from_parts(
            Vec::new(),
            Vec::new(),
            vec![
                connection("a", "pending", slack(), true, Some("active")),
                connection("b", "pending", slack(), true, Some("retrieving_tokens")),
                connection("c", "off", slack(), false, Some("error")),
                connection("d", "off-and-on", slack(), false, None),
                connection("e", "off-and-on", slack(), true, Some("active")),
            ],
        );
        assert_eq!(data.context_health("pending"), Some(Health::Pending));
        assert_eq!(data.context_health("off"), Some(Health::Disabled));
        assert_eq!(data.context_health("off-and-on"), Some(Health::Active), "an active one outranks a disabled one");
    }

    #[test]
    fn connections_keep_only_the_connector_texts_the_panes_use() {
        let mut slack = connector("slack", "Slack");
        slack.short_description = "Team chat".into();
        slack.description = Some("A long text".into());
        let data = Data::from_parts(Vec::new(), Vec::new(), vec![connection("a", "x", slack, true, Some("active"))]);
        let kept = &data.connections[0].connector;
        assert_eq!((kept.slug.as_str(), kept.name.as_str()), ("slack", "Slack"));
        assert!(kept.short_description.is_empty() && kept.description.is_none());
    }
}
