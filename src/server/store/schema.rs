//! The SQLite schema as its ordered migrations: version 1 is the schema of the first release,
//! each later version one addition, applied once and recorded by `store/migrations.rs`.
//!
//! A schema change is a new step at the end of [`MIGRATIONS`] (the next version), never an edit
//! of an existing one: databases in the field have run those. Steps 2 to 14 are idempotent
//! (`IF NOT EXISTS`, columns added only when missing), because databases made before versioned
//! migrations all say version 1 whatever they hold; later steps run only on databases whose
//! version is recorded exactly. Column order is not part
//! of the schema (an added column comes last, a legacy table may hold it earlier): statements
//! always name their columns.
//!
//! Connections carry a `health` column holding the rank of `model::Health` (its position in
//! `Health::ALL`, healthiest first). It is computed in Rust with `Health::of` whenever a
//! connection or its authorization is written, so the one health definition stays in the model
//! while SQL can still filter by health and pick the healthiest row through an index.

use rusqlite::Connection as Db;

/// One version of the schema: what it adds to the one before.
pub(super) struct Migration {
    pub version: i64,
    /// What the step adds, for `migrate --status` and the `schema_migrations` table.
    pub name: &'static str,
    /// Columns added to existing tables `(table, column, declaration)`, before `sql` runs.
    pub added_columns: &'static [(&'static str, &'static str, &'static str)],
    pub sql: &'static str,
    /// Work done after `sql`, in the same transaction (the counters' first count).
    pub then: Option<fn(&Db) -> rusqlite::Result<()>>,
}

pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "the first release: platform, API keys, connectors, contexts, connections, authorizations",
        added_columns: &[],
        sql: FIRST_RELEASE,
        then: None,
    },
    Migration {
        version: 2,
        name: "catalog OAuth flows, repair links and the sandbox OAuth provider",
        added_columns: &[],
        sql: FLOWS_REPAIR_LINKS_SANDBOX,
        then: None,
    },
    Migration {
        version: 3,
        name: "api_keys.last_used_at",
        added_columns: &[("api_keys", "last_used_at", "TEXT")],
        sql: "",
        then: None,
    },
    Migration {
        version: 4,
        name: "field (API-key) connectors and one-time tokens",
        // Set for connectors that collect a field (an API key) instead of an OAuth2 authorization.
        added_columns: &[("connectors", "credential_field", "TEXT")],
        sql: ONE_TIME_TOKENS,
        then: None,
    },
    Migration { version: 5, name: "web origins", added_columns: &[], sql: WEB_ORIGINS, then: None },
    Migration { version: 6, name: "the event history", added_columns: &[], sql: EVENTS, then: None },
    Migration { version: 7, name: "events.actor", added_columns: &[("events", "actor", "TEXT")], sql: "", then: None },
    Migration { version: 8, name: "hourly refresh counts", added_columns: &[], sql: REFRESH_COUNTS, then: None },
    Migration {
        version: 9,
        name: "counters: per-connector health, contexts' severity and connection count",
        // Counters (`store/counters.rs`): the most severe `Health::severity` of the context's
        // connections (0: none) and how many it has.
        added_columns: &[
            ("contexts", "severity", "INTEGER NOT NULL DEFAULT 0"),
            ("contexts", "connection_count", "INTEGER NOT NULL DEFAULT 0"),
        ],
        sql: COUNTERS,
        then: Some(super::counters::recount),
    },
    Migration { version: 10, name: "webhooks", added_columns: &[], sql: WEBHOOKS, then: None },
    Migration {
        version: 11,
        name: "the refresh scheduler's indexes",
        added_columns: &[],
        sql: REFRESH_SCHEDULE,
        then: None,
    },
    Migration {
        version: 12,
        name: "authorizations.status_changed_at and per-connector refresh counts",
        // When `status` last changed (kept by the triggers of STATUS_CHANGED_AT).
        added_columns: &[("authorizations", "status_changed_at", "TEXT")],
        sql: STATUS_CHANGED_AT,
        then: None,
    },
    Migration {
        version: 13,
        name: "webhook outbox rows by event",
        added_columns: &[],
        sql: "CREATE INDEX IF NOT EXISTS webhook_outbox_by_event ON webhook_outbox (event_id);",
        then: None,
    },
    Migration { version: 14, name: "refresh claims", added_columns: &[], sql: REFRESH_CLAIMS, then: None },
];

/// Adds the step's columns a table lacks.
pub(super) fn add_missing_columns(db: &Db, migration: &Migration) -> rusqlite::Result<()> {
    for (table, column, declaration) in migration.added_columns {
        let present: bool = db.query_row(
            &format!("SELECT EXISTS (SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1)"),
            [column],
            |row| row.get(0),
        )?;
        if !present {
            db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {declaration}"))?;
        }
    }
    Ok(())
}

const FIRST_RELEASE: &str = r#"
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS platform (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    name               TEXT NOT NULL,
    slug               TEXT NOT NULL,
    custom_domain      TEXT,
    website            TEXT,
    login_redirect_url TEXT,
    remove_branding    INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS api_keys (
    publishable_key TEXT PRIMARY KEY,
    secret_sha256   BLOB NOT NULL,
    created_at      TEXT NOT NULL
);

-- oauth_* columns are server-side configuration for token refresh and never leave the server.
CREATE TABLE IF NOT EXISTS connectors (
    slug                          TEXT PRIMARY KEY,
    name                          TEXT NOT NULL,
    short_description             TEXT NOT NULL DEFAULT '',
    mark_url                      TEXT NOT NULL DEFAULT '',
    about                         TEXT,
    description                   TEXT,
    supports_multiple_connections INTEGER NOT NULL DEFAULT 0,
    oauth_authorize_url           TEXT,
    oauth_token_url               TEXT,
    oauth_client_id               TEXT,
    oauth_client_secret           TEXT,
    oauth_scopes                  TEXT
);

CREATE TABLE IF NOT EXISTS contexts (
    id            INTEGER PRIMARY KEY,
    external_id   TEXT NOT NULL UNIQUE,
    external_name TEXT,
    attributes    TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

-- seq orders every listing (keyset pagination); id is the public, caller-chosen or uuid id.
CREATE TABLE IF NOT EXISTS connections (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    context_id     INTEGER NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
    connector_slug TEXT NOT NULL REFERENCES connectors(slug),
    enabled        INTEGER NOT NULL,
    health         INTEGER NOT NULL,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS connections_by_context ON connections (context_id, seq);
CREATE INDEX IF NOT EXISTS connections_by_context_connector ON connections (context_id, connector_slug, health, seq);
CREATE INDEX IF NOT EXISTS connections_by_health ON connections (health, seq);
CREATE INDEX IF NOT EXISTS connections_by_connector ON connections (connector_slug, seq);

-- refresh_token never leaves the server; access_token only on single-connection reads.
CREATE TABLE IF NOT EXISTS authorizations (
    id                INTEGER PRIMARY KEY,
    connection_seq    INTEGER NOT NULL UNIQUE REFERENCES connections(seq) ON DELETE CASCADE,
    status            TEXT NOT NULL,
    display_label     TEXT,
    error_code        TEXT,
    error_message     TEXT,
    access_token      TEXT,
    refresh_token     TEXT,
    authorize_url     TEXT,
    state             TEXT,
    expires_at        TEXT,
    last_refreshed_at TEXT,
    refresh_error     TEXT,
    updated_at        TEXT NOT NULL
);
"#;

const FLOWS_REPAIR_LINKS_SANDBOX: &str = r#"
-- Authorization-code flows started by the catalog. `state` is single use (the row is deleted
-- when the callback arrives) and bound to one connection; starting a new flow for a connection
-- drops its older ones.
CREATE TABLE IF NOT EXISTS oauth_flows (
    state          TEXT PRIMARY KEY,
    connection_seq INTEGER NOT NULL REFERENCES connections(seq) ON DELETE CASCADE,
    pkce_verifier  TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    expires_at     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS oauth_flows_by_connection ON oauth_flows (connection_seq);

-- Catalog repair links: only the token's hash is kept; `used_at` makes a token single use.
CREATE TABLE IF NOT EXISTS repair_tokens (
    token_sha256   BLOB PRIMARY KEY,
    context_id     INTEGER NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
    connector_slug TEXT NOT NULL REFERENCES connectors(slug),
    expires_at     TEXT NOT NULL,
    used_at        TEXT
);

-- The sandbox OAuth2 provider (`/sandbox/oauth/...`). Secrets, codes and refresh tokens are
-- stored as SHA-256 hashes only.
CREATE TABLE IF NOT EXISTS sandbox_clients (
    client_id         TEXT PRIMARY KEY,
    secret_sha256     BLOB NOT NULL,
    name              TEXT NOT NULL,
    redirect_uris     TEXT NOT NULL,
    access_ttl_secs   INTEGER NOT NULL,
    refresh_ttl_secs  INTEGER
);
CREATE TABLE IF NOT EXISTS sandbox_grants (
    id             INTEGER PRIMARY KEY,
    client_id      TEXT NOT NULL REFERENCES sandbox_clients(client_id) ON DELETE CASCADE,
    subject        TEXT NOT NULL,
    scope          TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    last_used_at   TEXT,
    revoked_at     TEXT,
    revoked_reason TEXT
);
CREATE TABLE IF NOT EXISTS sandbox_codes (
    code_sha256           BLOB PRIMARY KEY,
    client_id             TEXT NOT NULL REFERENCES sandbox_clients(client_id) ON DELETE CASCADE,
    subject               TEXT NOT NULL,
    scope                 TEXT NOT NULL,
    redirect_uri          TEXT NOT NULL,
    code_challenge        TEXT,
    expires_at            TEXT NOT NULL,
    used_at               TEXT,
    grant_id              INTEGER REFERENCES sandbox_grants(id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS sandbox_refresh_tokens (
    token_sha256 BLOB PRIMARY KEY,
    grant_id     INTEGER NOT NULL REFERENCES sandbox_grants(id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    consumed_at  TEXT
);
CREATE INDEX IF NOT EXISTS sandbox_refresh_tokens_by_grant ON sandbox_refresh_tokens (grant_id);
"#;

/// One-time tokens of xkit.js's connect popup (`POST /sessions/ott`): hashed, short-lived,
/// deleted when spent.
const ONE_TIME_TOKENS: &str = "
CREATE TABLE IF NOT EXISTS one_time_tokens (
    token_sha256 BLOB PRIMARY KEY,
    context_id   INTEGER NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
    expires_at   TEXT NOT NULL
);
";

/// Web origins (`scheme://host[:port]`) whose pages may call the Platform User API from a
/// browser (CORS): `xkit-dash origins add`, or a seed file's "origins".
const WEB_ORIGINS: &str = "
CREATE TABLE IF NOT EXISTS web_origins (
    origin     TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);
";

/// The history of changes (`store/events.rs`): written by the writer's triggers inside the
/// change's own transaction. AUTOINCREMENT: a pruned event's seq is never reused, so a cursor
/// (the last seq a reader saw) stays valid across pruning.
const EVENTS: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    event_type    TEXT NOT NULL,
    occurred_at   TEXT NOT NULL,
    context_id    TEXT,
    connector     TEXT,
    connection_id TEXT,
    payload       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_time ON events (occurred_at);
CREATE INDEX IF NOT EXISTS events_by_connection ON events (connection_id, seq);
";

/// Routine successful refreshes are counted per hour (`2026-01-01T13:00:00Z`), not stored as events.
const REFRESH_COUNTS: &str = "
CREATE TABLE IF NOT EXISTS refresh_counts (
    hour      TEXT PRIMARY KEY,
    refreshed INTEGER NOT NULL
);
";

/// Counters (`store/counters.rs`), kept by the writer's triggers in each change's transaction:
/// connections per connector and stored health rank, and the number of contexts; the indexes of
/// the contexts' keyset orders (`store/context_list.rs`): by health (with or without a status
/// filter, then by id), by connection count, and by both under a status filter; and the
/// listings by connector and health, and by expiry (`GET /connections?expiring_within=`).
const COUNTERS: &str = "
CREATE TABLE IF NOT EXISTS health_counts (
    connector_slug TEXT NOT NULL,
    health         INTEGER NOT NULL,
    connections    INTEGER NOT NULL,
    PRIMARY KEY (connector_slug, health)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS platform_counts (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    contexts INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contexts_by_severity ON contexts (severity, external_id);
CREATE INDEX IF NOT EXISTS contexts_by_connection_count ON contexts (connection_count, external_id);
CREATE INDEX IF NOT EXISTS contexts_by_severity_connection_count ON contexts (severity, connection_count, external_id);
CREATE INDEX IF NOT EXISTS connections_by_connector_health ON connections (connector_slug, health, seq);
CREATE INDEX IF NOT EXISTS authorizations_by_expiry ON authorizations (expires_at) WHERE expires_at IS NOT NULL;
";

/// Webhook endpoints (`store/webhook_outbox.rs`). The secret is kept in clear, as the signature
/// needs it (the database is 0600); it is shown once, when the endpoint is added. `event_types`
/// is a JSON array, NULL for every type.
///
/// The outbox holds one row per (event, matching endpoint), written by the writer's trigger in
/// the event's own transaction; deleted once delivered. `body` is fixed when queued, so every
/// attempt sends the same bytes. Times in unix milliseconds. The deliveries are the attempts,
/// the last few hundred per endpoint (`webhooks deliveries`).
const WEBHOOKS: &str = "
CREATE TABLE IF NOT EXISTS webhook_endpoints (
    id              TEXT PRIMARY KEY,
    url             TEXT NOT NULL,
    secret          TEXT NOT NULL,
    event_types     TEXT,
    enabled         INTEGER NOT NULL DEFAULT 1,
    created_at      TEXT NOT NULL,
    failing_since   TEXT,
    disabled_reason TEXT
);
CREATE TABLE IF NOT EXISTS webhook_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    body            TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_outbox_by_endpoint ON webhook_outbox (endpoint_id, seq);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    attempted_at TEXT NOT NULL,
    duration_ms  INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    delivered    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, seq);
CREATE INDEX IF NOT EXISTS webhook_deliveries_by_event ON webhook_deliveries (event_id);
";

/// What the proactive refresh scheduler looks for (`store/refresh_schedule.rs`): tokens that
/// expire soon, and tokens not refreshed for long; only refreshable rows are in these indexes.
const REFRESH_SCHEDULE: &str = "
CREATE INDEX IF NOT EXISTS authorizations_refresh_by_expiry ON authorizations (expires_at)
    WHERE status = 'active' AND refresh_token <> '';
CREATE INDEX IF NOT EXISTS authorizations_refresh_by_age ON authorizations (COALESCE(last_refreshed_at, updated_at))
    WHERE status = 'active' AND refresh_token <> '';
";

/// Keeps `authorizations.status_changed_at` (when the authorization entered its status) true
/// whichever statement writes the status, and fills it for rows written before the column
/// existed: the time of the connection's latest status event if the history has one, else the
/// row's last update. Also the successful refreshes per hour and connector, for
/// `GET /stats/history` (hours before this table existed are only in `refresh_counts`).
const STATUS_CHANGED_AT: &str = r#"
CREATE TRIGGER IF NOT EXISTS authorization_status_set AFTER INSERT ON authorizations
WHEN NEW.status_changed_at IS NULL
BEGIN
    UPDATE authorizations SET status_changed_at = NEW.updated_at WHERE id = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS authorization_status_changed AFTER UPDATE OF status ON authorizations
WHEN OLD.status IS NOT NEW.status
BEGIN
    UPDATE authorizations SET status_changed_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now') WHERE id = NEW.id;
END;
UPDATE authorizations SET status_changed_at = COALESCE(
    (SELECT MAX(e.occurred_at) FROM events e JOIN connections c ON c.id = e.connection_id
     WHERE c.seq = authorizations.connection_seq
       AND e.event_type IN ('connection.created', 'connection.error', 'connection.recovered', 'connection.repaired')),
    updated_at)
WHERE status_changed_at IS NULL;
CREATE TABLE IF NOT EXISTS connector_refresh_counts (
    hour      TEXT NOT NULL,
    connector TEXT NOT NULL,
    refreshed INTEGER NOT NULL,
    PRIMARY KEY (hour, connector)
) WITHOUT ROWID;
"#;

/// A refresh in flight, claimed by one process until `until` (`authorizations::claim_refresh`),
/// so that two processes on this database never present the same refresh token at once.
const REFRESH_CLAIMS: &str = "
CREATE TABLE IF NOT EXISTS refresh_claims (
    connection_seq INTEGER PRIMARY KEY REFERENCES connections(seq) ON DELETE CASCADE,
    until          TEXT NOT NULL
);
";
