-- Where each read model stands. Its position moves in the same transaction as its rows, so every event
-- is applied exactly once; `error` holds why it stopped, if it did.
CREATE TABLE projection_checkpoints (
    name           TEXT    PRIMARY KEY NOT NULL,
    position       INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    error_position INTEGER,
    updated_at     TEXT
) STRICT;

-- The timeline read model: one row per (subject, event) for every park, company and tenant an event
-- concerns.
CREATE TABLE timeline_entries (
    subject_type   TEXT    NOT NULL,
    subject_id     TEXT    NOT NULL,
    position       INTEGER NOT NULL,
    occurred_at    TEXT    NOT NULL,
    event_type     TEXT    NOT NULL,
    aggregate_type TEXT    NOT NULL,
    aggregate_id   TEXT    NOT NULL,
    PRIMARY KEY (subject_type, subject_id, position)
) STRICT, WITHOUT ROWID;

CREATE INDEX timeline_entries_by_time
    ON timeline_entries (subject_type, subject_id, occurred_at, position);

-- Which subjects an aggregate concerns, learned from its earlier events, so that its later events
-- (an answer to a request about park P) land on the same timelines.
CREATE TABLE timeline_subjects (
    aggregate_type TEXT NOT NULL,
    aggregate_id   TEXT NOT NULL,
    subject_type   TEXT NOT NULL,
    subject_id     TEXT NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, subject_type, subject_id)
) STRICT, WITHOUT ROWID;
