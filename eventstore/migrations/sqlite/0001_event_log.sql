-- The event log: one row per event, every leaf field of the transparency-log format in its exact form.
-- Timestamps are stored as the RFC 3339 text that is hashed; payload and metadata as the exact bytes.
CREATE TABLE events (
    position          INTEGER PRIMARY KEY NOT NULL CHECK (position >= 1),
    event_id          BLOB    NOT NULL UNIQUE CHECK (length(event_id) = 16),
    aggregate_type    TEXT    NOT NULL,
    aggregate_id      TEXT    NOT NULL,
    aggregate_version INTEGER NOT NULL CHECK (aggregate_version >= 1),
    event_type        TEXT    NOT NULL,
    schema_version    INTEGER NOT NULL CHECK (schema_version >= 1),
    occurred_at       TEXT    NOT NULL,
    recorded_at       TEXT    NOT NULL,
    payload           BLOB    NOT NULL,
    metadata          BLOB    NOT NULL,
    UNIQUE (aggregate_type, aggregate_id, aggregate_version)
) STRICT;

-- The log is append-only. These triggers make an accidental UPDATE or DELETE fail loudly; a deliberate
-- attacker with file access can drop them, which is what the Merkle tree and `kcn-ledger verify` catch.
CREATE TRIGGER events_are_immutable_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable');
END;
CREATE TRIGGER events_are_immutable_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'events are immutable');
END;

-- Durable idempotency: a request id, scoped to the calling principal, with the hash of the validated
-- command and the outcome it produced. Only accepted commands are recorded here.
CREATE TABLE command_requests (
    principal    TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    command_hash BLOB NOT NULL,
    outcome      BLOB NOT NULL,
    recorded_at  TEXT NOT NULL,
    PRIMARY KEY (principal, request_id)
) STRICT;

-- The Merkle tree's stored hashes (tlog layout: one row per stored-hash index, gap-free).
CREATE TABLE tree_hashes (
    idx  INTEGER PRIMARY KEY NOT NULL CHECK (idx >= 0),
    hash BLOB    NOT NULL CHECK (length(hash) = 32)
) STRICT;

-- Every signed checkpoint the log issued, so an auditor can fetch the one for any size it was given.
CREATE TABLE checkpoints (
    tree_size  INTEGER PRIMARY KEY NOT NULL,
    root_hash  BLOB    NOT NULL CHECK (length(root_hash) = 32),
    note       TEXT    NOT NULL,
    issued_at  TEXT    NOT NULL
) STRICT;
