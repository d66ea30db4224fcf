-- The event log on PostgreSQL: the same tables as the SQLite migration, every leaf field of the
-- transparency-log format in its exact form.
--
-- Payload and metadata are BYTEA, never JSONB: JSONB re-serialises (reorders keys, drops whitespace and
-- duplicate keys), and the stored bytes are what the Merkle tree hashed. Timestamps are TEXT, not
-- timestamptz: they are the RFC 3339 text that is hashed, kept exactly as given.
--
-- The text columns that are keys use the "C" collation, so their indexes do not depend on the operating
-- system's locale library (whose updates can silently reorder, and so corrupt, a text index); equality,
-- all the log asks of them, is byte equality either way.
CREATE TABLE events (
    position          BIGINT PRIMARY KEY CHECK (position >= 1),
    event_id          BYTEA  NOT NULL UNIQUE CHECK (octet_length(event_id) = 16),
    aggregate_type    TEXT   COLLATE "C" NOT NULL,
    aggregate_id      TEXT   COLLATE "C" NOT NULL,
    aggregate_version BIGINT NOT NULL CHECK (aggregate_version >= 1),
    event_type        TEXT   NOT NULL,
    schema_version    BIGINT NOT NULL CHECK (schema_version >= 1),
    occurred_at       TEXT   NOT NULL,
    recorded_at       TEXT   NOT NULL,
    payload           BYTEA  NOT NULL,
    metadata          BYTEA  NOT NULL,
    -- Also the index that loads one aggregate's stream in version order.
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
);

-- The log is append-only. These triggers make an accidental UPDATE, DELETE or TRUNCATE fail loudly; a
-- deliberate attacker with superuser access can drop them, which is what the Merkle tree and
-- `kcn-ledger verify` catch.
CREATE FUNCTION events_are_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are immutable';
END;
$$;
CREATE TRIGGER events_are_immutable_update BEFORE UPDATE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER events_are_immutable_delete BEFORE DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
-- TRUNCATE fires no row triggers; SQLite has no TRUNCATE, PostgreSQL needs its own guard.
CREATE TRIGGER events_are_immutable_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- Durable idempotency: a request id, scoped to the calling principal, with the hash of the validated
-- command and the outcome it produced. Only accepted commands are recorded here.
CREATE TABLE command_requests (
    principal    TEXT  COLLATE "C" NOT NULL,
    request_id   TEXT  COLLATE "C" NOT NULL,
    command_hash BYTEA NOT NULL,
    outcome      BYTEA NOT NULL,
    recorded_at  TEXT  NOT NULL,
    PRIMARY KEY (principal, request_id)
);

-- The Merkle tree's stored hashes (tlog layout: one row per stored-hash index, gap-free).
CREATE TABLE tree_hashes (
    idx  BIGINT PRIMARY KEY CHECK (idx >= 0),
    hash BYTEA  NOT NULL CHECK (octet_length(hash) = 32)
);

-- Every signed checkpoint the log issued, so an auditor can fetch the one for any size it was given.
CREATE TABLE checkpoints (
    tree_size  BIGINT PRIMARY KEY,
    root_hash  BYTEA  NOT NULL CHECK (octet_length(root_hash) = 32),
    note       TEXT   NOT NULL,
    issued_at  TEXT   NOT NULL
);
