-- The schema a database created by commit 1495c92 had (its SCHEMA and the statements its open ran),
-- for the migration tests; meta.schema_version was 1 whatever the commit.
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
    created_at      TEXT NOT NULL,
    last_used_at    TEXT
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
    oauth_scopes                  TEXT,
    -- Set for connectors that collect a field (an API key) instead of an OAuth2 authorization.
    credential_field              TEXT
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

-- One-time tokens of xkit.js's connect popup (`POST /sessions/ott`): hashed, short-lived,
-- deleted when spent.
CREATE TABLE IF NOT EXISTS one_time_tokens (
    token_sha256 BLOB PRIMARY KEY,
    context_id   INTEGER NOT NULL REFERENCES contexts(id) ON DELETE CASCADE,
    expires_at   TEXT NOT NULL
);

-- Web origins (`scheme://host[:port]`) whose pages may call the Platform User API from a
-- browser (CORS): `xkit-dash origins add`, or a seed file's "origins".
CREATE TABLE IF NOT EXISTS web_origins (
    origin     TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
);

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

-- The history of changes (`store/events.rs`): written by the writer's triggers inside the
-- change's own transaction. AUTOINCREMENT: a pruned event's seq is never reused, so a cursor
-- (the last seq a reader saw) stays valid across pruning.
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

