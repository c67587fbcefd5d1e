//! The schema's functions and triggers: what SQLite's writer does with TEMP triggers
//! (`store/events.rs`, `counters.rs`, `webhook_outbox.rs`, `status_changes.rs`, and the
//! `status_changed_at` triggers of `store/schema.rs`), ported one by one; see `schema.rs` for
//! the settings that stand for SQLite's TEMP tables.

use super::super::counters::severity_sql;

/// The advisory lock (transaction scope) every transaction writing events or changing the
/// counters holds until it ends: events commit in seq order, and writers changing the shared
/// counter rows queue for it instead of deadlocking on those rows in opposite orders.
pub const EVENTS_LOCK: i64 = 0x786b_6974_0001;

/// Every function and trigger, in the order they must be created.
pub(super) fn all() -> String {
    [FUNCTIONS, &counter_triggers(), &event_triggers(), OUTBOX_TRIGGERS, STATUS_TRIGGERS].concat()
}

/// The helpers the triggers (and the store's statements) share.
const FUNCTIONS: &str = r#"
-- The actor of the transaction's events (SQLite: the TEMP table `event_actor`).
CREATE FUNCTION xkit_actor() RETURNS TEXT LANGUAGE sql STABLE
AS $$ SELECT NULLIF(current_setting('xkit.actor', true), '') $$;

-- False during a bulk import (SQLite: `events::ROWS_NOTED`).
CREATE FUNCTION xkit_rows_noted() RETURNS BOOLEAN LANGUAGE sql STABLE
AS $$ SELECT COALESCE(current_setting('xkit.quiet_rows', true), '') <> 'on' $$;

-- False while an import pauses the counters (SQLite: the TEMP table `counters_paused`).
CREATE FUNCTION xkit_counting() RETURNS BOOLEAN LANGUAGE sql STABLE
AS $$ SELECT COALESCE(current_setting('xkit.counters_paused', true), '') <> 'on' $$;

-- An event's time, to the second (SQLite's strftime('%Y-%m-%dT%H:%M:%SZ', 'now')).
CREATE FUNCTION xkit_now() RETURNS TIMESTAMPTZ LANGUAGE sql STABLE
AS $$ SELECT date_trunc('second', statement_timestamp()) $$;

-- A time as the API writes it: `2026-01-01T13:00:00Z`.
CREATE FUNCTION xkit_time_text(at TIMESTAMPTZ) RETURNS TEXT LANGUAGE sql IMMUTABLE
AS $$ SELECT to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') $$;

-- A new event id: 32 lowercase hex digits (SQLite's lower(hex(randomblob(16)))).
CREATE FUNCTION xkit_event_id() RETURNS TEXT LANGUAGE sql VOLATILE
AS $$ SELECT replace(gen_random_uuid()::text, '-', '') $$;

-- RFC 7396 merge patch, SQLite's json_patch: a null in the patch removes the key.
CREATE FUNCTION xkit_json_patch(target JSONB, patch JSONB) RETURNS JSONB LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    patched JSONB;
    field TEXT;
    field_value JSONB;
BEGIN
    IF patch IS NULL OR jsonb_typeof(patch) <> 'object' THEN
        RETURN patch;
    END IF;
    patched := CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END;
    FOR field, field_value IN SELECT * FROM jsonb_each(patch) LOOP
        IF jsonb_typeof(field_value) = 'null' THEN
            patched := patched - field;
        ELSE
            patched := jsonb_set(patched, ARRAY[field], xkit_json_patch(patched -> field, field_value));
        END IF;
    END LOOP;
    RETURN patched;
END $$;

-- Writes the event of connection `connection_seq` (SQLite: `events::connection_event`): the
-- payload Xkit documented for its webhooks, plus `extra`.
CREATE FUNCTION xkit_connection_event(event_type TEXT, connection_seq BIGINT, extra JSONB) RETURNS VOID
LANGUAGE sql VOLATILE AS $$
    INSERT INTO events (id, event_type, occurred_at, actor, context_id, connector, connection_id, payload)
    SELECT xkit_event_id(), event_type, xkit_now(), xkit_actor(), x.external_id, c.connector_slug, c.id,
        jsonb_build_object('connector', jsonb_build_object('slug', c.connector_slug),
            'context', jsonb_build_object('external_id', x.external_id),
            'connection', jsonb_build_object('external_id', c.id)) || extra
    FROM connections c LEFT JOIN contexts x ON x.id = c.context_id WHERE c.seq = connection_seq
$$;

-- Writes an administrative event (no connection) (SQLite: `events::admin_event`).
CREATE FUNCTION xkit_admin_event(event_type TEXT, context_id TEXT, payload JSONB) RETURNS VOID
LANGUAGE sql VOLATILE AS $$
    INSERT INTO events (id, event_type, occurred_at, actor, context_id, payload)
    VALUES (xkit_event_id(), event_type, xkit_now(), xkit_actor(), context_id, payload)
$$;
"#;

/// `store/counters.rs`'s triggers: per connector and health, per context, and the contexts.
fn counter_triggers() -> String {
    // The row is locked by a statement of its own first: the count that follows then starts
    // (with a snapshot of its own) after another node's concurrent change of the same context
    // has committed, instead of overwriting that change's count with one that misses it. (`NO
    // KEY`: as the update's own lock, it does not wait for the key-share locks that inserting a
    // connection takes on its context, which would deadlock two such inserts.)
    let refresh_context = |id: &str| {
        format!(
            "PERFORM 1 FROM contexts WHERE id = {id} FOR NO KEY UPDATE;
             UPDATE contexts SET (connection_count, severity) =
                 (SELECT count(*), COALESCE(max({severity}), 0) FROM connections c WHERE c.context_id = {id})
             WHERE id = {id};",
            severity = severity_sql("c.health")
        )
    };
    let count = |slug: &str, health: &str, delta: i64| {
        format!(
            "INSERT INTO health_counts (connector_slug, health, connections) VALUES ({slug}, {health}, {delta})
             ON CONFLICT (connector_slug, health) DO UPDATE SET connections = health_counts.connections + {delta};"
        )
    };
    let triggers = [
        (
            "counter_connection_added",
            "AFTER INSERT ON connections",
            "xkit_counting()".to_owned(),
            format!("{} {}", count("NEW.connector_slug", "NEW.health", 1), refresh_context("NEW.context_id")),
        ),
        (
            "counter_connection_removed",
            "AFTER DELETE ON connections",
            "xkit_counting()".to_owned(),
            format!("{} {}", count("OLD.connector_slug", "OLD.health", -1), refresh_context("OLD.context_id")),
        ),
        (
            "counter_connection_changed",
            "AFTER UPDATE OF health, connector_slug, context_id ON connections",
            "xkit_counting() AND (OLD.health IS DISTINCT FROM NEW.health
                 OR OLD.connector_slug IS DISTINCT FROM NEW.connector_slug OR OLD.context_id IS DISTINCT FROM NEW.context_id)"
                .to_owned(),
            format!(
                "{} {} {} {}",
                count("OLD.connector_slug", "OLD.health", -1),
                count("NEW.connector_slug", "NEW.health", 1),
                refresh_context("OLD.context_id"),
                refresh_context("NEW.context_id"),
            ),
        ),
        (
            "counter_context_added",
            "AFTER INSERT ON contexts",
            "xkit_counting()".to_owned(),
            "UPDATE platform_counts SET contexts = contexts + 1 WHERE id = 1;".to_owned(),
        ),
        (
            "counter_context_removed",
            "AFTER DELETE ON contexts",
            "xkit_counting()".to_owned(),
            "UPDATE platform_counts SET contexts = contexts - 1 WHERE id = 1;".to_owned(),
        ),
    ];
    let rows: String = triggers
        .into_iter()
        .map(|(name, on, when, body)| {
            row_trigger(name, on, &when, &format!("PERFORM pg_advisory_xact_lock({EVENTS_LOCK}); {body}"))
        })
        .collect();
    // Every counter from the tables (SQLite: `counters::recount`): after a bulk import.
    let recount = format!(
        "CREATE FUNCTION xkit_recount() RETURNS VOID LANGUAGE sql VOLATILE AS $$
             SELECT pg_advisory_xact_lock({EVENTS_LOCK});
             DELETE FROM health_counts;
             INSERT INTO health_counts (connector_slug, health, connections)
                 SELECT connector_slug, health, count(*) FROM connections GROUP BY connector_slug, health;
             INSERT INTO platform_counts (id, contexts) VALUES (1, (SELECT count(*) FROM contexts))
                 ON CONFLICT (id) DO UPDATE SET contexts = excluded.contexts;
             UPDATE contexts SET (connection_count, severity) =
                 (SELECT count(*), COALESCE(max({severity}), 0) FROM connections c WHERE c.context_id = contexts.id);
         $$;\n",
        severity = severity_sql("c.health")
    );
    rows + &recount
}

/// A row trigger `name` firing `on` (`AFTER INSERT ON table`) when `when` holds, running `body`.
fn row_trigger(name: &str, on: &str, when: &str, body: &str) -> String {
    format!(
        "CREATE FUNCTION {name}() RETURNS TRIGGER LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$;
         CREATE TRIGGER {name} {on} FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {name}();\n"
    )
}

/// `store/events.rs`'s triggers (and `schema.rs`'s `status_changed_at` ones).
fn event_triggers() -> String {
    let error_extra = "jsonb_build_object('error_code', NEW.error_code, 'error_message', NEW.error_message)";
    // The last of a connection's error and recovery events is an error (SQLite: `IN_ERROR`).
    let in_error = "(SELECT e.event_type FROM events e WHERE e.connection_id =
            (SELECT id FROM connections WHERE seq = NEW.connection_seq)
            AND e.event_type IN ('connection.error', 'connection.recovered', 'connection.repaired')
            ORDER BY e.seq DESC LIMIT 1) = 'connection.error'";
    let triggers = [
        (
            "event_connection_created",
            "AFTER INSERT ON connections",
            "xkit_rows_noted()".to_owned(),
            "PERFORM xkit_connection_event('connection.created', NEW.seq, '{}');".to_owned(),
        ),
        (
            "event_connection_enabled_changed",
            "AFTER UPDATE OF enabled ON connections",
            "OLD.enabled IS DISTINCT FROM NEW.enabled".to_owned(),
            "PERFORM xkit_connection_event(CASE WHEN NEW.enabled THEN 'connection.enabled' ELSE 'connection.disabled' END,
                 NEW.seq, '{}');"
                .to_owned(),
        ),
        (
            "event_connection_deleted",
            "AFTER DELETE ON connections",
            "true".to_owned(),
            "PERFORM xkit_admin_event_of_connection(OLD.context_id, OLD.connector_slug, OLD.id);".to_owned(),
        ),
        (
            "event_connection_failed",
            "AFTER UPDATE OF status ON authorizations",
            "NEW.status = 'error' AND OLD.status IS DISTINCT FROM 'error'".to_owned(),
            format!("PERFORM xkit_connection_event('connection.error', NEW.connection_seq, {error_extra});"),
        ),
        (
            // Imported, or created, in error.
            "event_connection_failed_on_insert",
            "AFTER INSERT ON authorizations",
            "NEW.status = 'error' AND xkit_rows_noted()".to_owned(),
            format!("PERFORM xkit_connection_event('connection.error', NEW.connection_seq, {error_extra});"),
        ),
        (
            "event_connection_back",
            "AFTER UPDATE OF status ON authorizations",
            "NEW.status = 'active' AND OLD.status IS DISTINCT FROM 'active'".to_owned(),
            // Straight back from `error` (an import); through an authorization flow: repaired.
            format!(
                "IF {in_error} THEN
                     PERFORM xkit_connection_event(CASE WHEN OLD.status = 'error' THEN 'connection.recovered'
                         ELSE 'connection.repaired' END, NEW.connection_seq, '{{}}');
                 END IF;"
            ),
        ),
        (
            "event_connection_refresh_failed",
            "AFTER UPDATE OF refresh_error ON authorizations",
            "NEW.refresh_error IS NOT NULL AND NEW.status IS NOT DISTINCT FROM OLD.status".to_owned(),
            "PERFORM xkit_connection_event('connection.refresh_failed', NEW.connection_seq,
                 jsonb_build_object('message', NEW.refresh_error));"
                .to_owned(),
        ),
        (
            "event_context_created",
            "AFTER INSERT ON contexts",
            "xkit_rows_noted()".to_owned(),
            "PERFORM xkit_admin_event('context.created', NEW.external_id,
                 jsonb_build_object('context', jsonb_build_object('external_id', NEW.external_id)));"
                .to_owned(),
        ),
        (
            "event_key_created",
            "AFTER INSERT ON api_keys",
            "true".to_owned(),
            "PERFORM xkit_admin_event('key.created', NULL, jsonb_build_object('publishable_key', NEW.publishable_key));"
                .to_owned(),
        ),
        (
            "event_key_revoked",
            "AFTER DELETE ON api_keys",
            "true".to_owned(),
            "PERFORM xkit_admin_event('key.revoked', NULL, jsonb_build_object('publishable_key', OLD.publishable_key));"
                .to_owned(),
        ),
        (
            "event_origin_added",
            "AFTER INSERT ON web_origins",
            "true".to_owned(),
            "PERFORM xkit_admin_event('origin.added', NULL, jsonb_build_object('origin', NEW.origin));".to_owned(),
        ),
        (
            "event_origin_removed",
            "AFTER DELETE ON web_origins",
            "true".to_owned(),
            "PERFORM xkit_admin_event('origin.removed', NULL, jsonb_build_object('origin', OLD.origin));".to_owned(),
        ),
        (
            // Every statement that sets `last_refreshed_at` on an active authorization is a
            // refresh (two in the same second included, so the value need not change).
            "event_refresh_counted",
            "AFTER UPDATE OF last_refreshed_at ON authorizations",
            "NEW.status = 'active' AND OLD.status = 'active'".to_owned(),
            "INSERT INTO refresh_counts (hour, refreshed) VALUES (date_trunc('hour', statement_timestamp(), 'UTC'), 1)
                 ON CONFLICT (hour) DO UPDATE SET refreshed = refresh_counts.refreshed + 1;
             INSERT INTO connector_refresh_counts (hour, connector, refreshed)
                 SELECT date_trunc('hour', statement_timestamp(), 'UTC'), connector_slug, 1
                 FROM connections WHERE seq = NEW.connection_seq
                 ON CONFLICT (hour, connector) DO UPDATE SET refreshed = connector_refresh_counts.refreshed + 1;"
                .to_owned(),
        ),
    ];
    let rows: String = triggers.into_iter().map(|(name, on, when, body)| row_trigger(name, on, &when, &body)).collect();
    // Events commit in seq order: the lock is taken before the statement draws any seq.
    let order = format!(
        "CREATE FUNCTION event_order() RETURNS TRIGGER LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_advisory_xact_lock({EVENTS_LOCK}); RETURN NULL; END $$;
         CREATE TRIGGER event_order BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION event_order();"
    );
    format!("{order}{EVENT_ANNOUNCED}{DELETED_EVENT}{STATUS_CHANGED_AT}{rows}")
}

/// Every event is announced (delivered at commit, to every node listening).
const EVENT_ANNOUNCED: &str = "
CREATE FUNCTION event_announced() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('xkit_events', NEW.seq::text);
    RETURN NULL;
END $$;
CREATE TRIGGER event_announced AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION event_announced();
";

/// `connection.deleted`: the row is gone, so its context is looked up by id (none when the
/// context's own deletion cascaded to it).
const DELETED_EVENT: &str = "
CREATE FUNCTION xkit_admin_event_of_connection(context_row BIGINT, connector_slug TEXT, connection_id TEXT)
RETURNS VOID LANGUAGE sql VOLATILE AS $$
    INSERT INTO events (id, event_type, occurred_at, actor, context_id, connector, connection_id, payload)
    SELECT xkit_event_id(), 'connection.deleted', xkit_now(), xkit_actor(), x.external_id, connector_slug, connection_id,
        jsonb_build_object('connector', jsonb_build_object('slug', connector_slug),
            'context', jsonb_build_object('external_id', x.external_id),
            'connection', jsonb_build_object('external_id', connection_id))
    FROM (SELECT (SELECT external_id FROM contexts WHERE id = context_row) AS external_id) x
$$;
";

/// `authorizations.status_changed_at`: when the authorization entered its status.
const STATUS_CHANGED_AT: &str = "
CREATE FUNCTION authorization_status_set() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.status_changed_at := COALESCE(NEW.status_changed_at, NEW.updated_at);
    ELSIF OLD.status IS DISTINCT FROM NEW.status THEN
        NEW.status_changed_at := xkit_now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER authorization_status_set BEFORE INSERT OR UPDATE OF status ON authorizations
    FOR EACH ROW EXECUTE FUNCTION authorization_status_set();
";

/// `store/webhook_outbox.rs`'s triggers, and its `settle` run at commit.
const OUTBOX_TRIGGERS: &str = "
CREATE FUNCTION webhook_queue() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO webhook_outbox (endpoint_id, event_id, event_type, body, next_attempt_ms)
    SELECT w.id, NEW.id, NEW.event_type,
        jsonb_build_object('id', NEW.id, 'event_type', NEW.event_type, 'occurred_at', xkit_time_text(NEW.occurred_at),
            'payload', NEW.payload),
        (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
    FROM webhook_endpoints w
    WHERE w.enabled AND CASE WHEN NEW.event_type = 'webhook.test' THEN w.id = NEW.payload -> 'webhook' ->> 'id'
        ELSE w.event_types IS NULL OR w.event_types ? NEW.event_type END
    ORDER BY w.id;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_queue AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION webhook_queue();

-- A payload completed later in the same transaction (`retry_at`) reaches the queued bodies.
CREATE FUNCTION webhook_payload_completed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_outbox SET body = jsonb_set(body, '{payload}', xkit_json_patch(body -> 'payload', NEW.payload))
    WHERE event_id = NEW.id AND attempts = 0;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_payload_completed AFTER UPDATE OF payload ON events
    FOR EACH ROW EXECUTE FUNCTION webhook_payload_completed();

-- At commit, a connection delivery's payload gets the connection's status (and error) as the
-- transaction leaves it (SQLite: `webhook_outbox::settle`).
CREATE FUNCTION webhook_settle() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    UPDATE webhook_outbox SET body = jsonb_set(body, '{payload}', xkit_json_patch(body -> 'payload',
        COALESCE((SELECT jsonb_build_object('status', a.status, 'error_code', a.error_code, 'error_message', a.error_message)
            FROM connections c JOIN authorizations a ON a.connection_seq = c.seq
            WHERE c.id = webhook_outbox.body -> 'payload' -> 'connection' ->> 'external_id'), '{}')))
    WHERE seq = NEW.seq;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER webhook_settle AFTER INSERT ON webhook_outbox DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.body -> 'payload' -> 'connection' IS NOT NULL)
    EXECUTE FUNCTION webhook_settle();

CREATE FUNCTION webhook_event(event_type TEXT, endpoint webhook_endpoints, extra JSONB) RETURNS VOID
LANGUAGE sql VOLATILE AS $$
    SELECT xkit_admin_event(event_type, NULL,
        jsonb_build_object('webhook', jsonb_build_object('id', endpoint.id, 'url', endpoint.url)) || extra)
$$;
CREATE FUNCTION webhook_changed() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM webhook_event('webhook.created', NEW, '{}');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM webhook_event('webhook.removed', OLD, '{}');
    ELSIF OLD.enabled AND NOT NEW.enabled THEN
        PERFORM webhook_event('webhook.disabled', NEW, jsonb_build_object('reason', NEW.disabled_reason));
    ELSIF NEW.enabled AND NOT OLD.enabled THEN
        PERFORM webhook_event('webhook.enabled', NEW, '{}');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER webhook_changed AFTER INSERT OR DELETE OR UPDATE OF enabled ON webhook_endpoints
    FOR EACH ROW EXECUTE FUNCTION webhook_changed();
";

/// `store/status_changes.rs`: every authorization inserted (outside a bulk import) or whose
/// status changed is announced at commit, with its status as the transaction leaves it (the
/// same payload twice in one transaction is delivered once); a rolled-back one never is.
const STATUS_TRIGGERS: &str = "
CREATE FUNCTION status_announced() RETURNS TRIGGER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('xkit_status', json_build_object('authorization_id', a.id, 'external_id', x.external_id,
        'status', a.status)::text)
    FROM authorizations a JOIN connections c ON c.seq = a.connection_seq JOIN contexts x ON x.id = c.context_id
    WHERE a.id = NEW.id;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER status_added AFTER INSERT ON authorizations DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (xkit_rows_noted()) EXECUTE FUNCTION status_announced();
CREATE CONSTRAINT TRIGGER status_changed AFTER UPDATE OF status ON authorizations DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) EXECUTE FUNCTION status_announced();
";
