-- The read models on PostgreSQL: the same tables as the SQLite migrations 1001 and 1002, in the log's
-- database. Versions 1000 and up belong to the projections crate; the event log's migrator ignores them
-- and this one ignores the log's.
--
-- Text that is a key or is ordered on (ids, business time) uses the "C" collation: comparisons and
-- ORDER BY are then byte-wise like SQLite's, so a timeline page and its page token mean the same on
-- both backends, and no operating-system locale update can reorder an index.

-- Where each read model stands. Its position moves in the same transaction as its rows; the projector
-- locks the row (`SELECT … FOR UPDATE`) before it applies a batch, so two processes running the same
-- projector never apply an event twice. `error` holds why it stopped, if it did.
CREATE TABLE projection_checkpoints (
    name           TEXT        COLLATE "C" PRIMARY KEY,
    position       BIGINT      NOT NULL DEFAULT 0 CHECK (position >= 0),
    error          TEXT,
    error_position BIGINT,
    updated_at     TIMESTAMPTZ,
    -- Events applied since the last (re)build: equals `position` when every event was applied once.
    events_applied BIGINT      NOT NULL DEFAULT 0
);

INSERT INTO projection_checkpoints (name, position) VALUES ('timeline', 0);

-- The timeline read model: one row per (subject, event) for every park, company and tenant an event
-- concerns.
CREATE TABLE timeline_entries (
    subject_type   TEXT   COLLATE "C" NOT NULL,
    subject_id     TEXT   COLLATE "C" NOT NULL,
    position       BIGINT NOT NULL,
    occurred_at    TEXT   COLLATE "C" NOT NULL,
    event_type     TEXT   COLLATE "C" NOT NULL,
    aggregate_type TEXT   COLLATE "C" NOT NULL,
    aggregate_id   TEXT   COLLATE "C" NOT NULL,
    PRIMARY KEY (subject_type, subject_id, position)
);

CREATE INDEX timeline_entries_by_time
    ON timeline_entries (subject_type, subject_id, occurred_at, position);

-- Which subjects an aggregate concerns, learned from its earlier events, so that its later events
-- (an answer to a request about park P) land on the same timelines.
CREATE TABLE timeline_subjects (
    aggregate_type TEXT COLLATE "C" NOT NULL,
    aggregate_id   TEXT COLLATE "C" NOT NULL,
    subject_type   TEXT COLLATE "C" NOT NULL,
    subject_id     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, subject_type, subject_id)
);
