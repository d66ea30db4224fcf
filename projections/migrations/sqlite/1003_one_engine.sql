-- One engine for every read model. The timeline joins the other read models: its tables are named by
-- generation (`timeline_entries_g1`, …) and created by the engine, so the first engine's tables go,
-- and its checkpoint with them (the engine rebuilds the timeline from position 0 on first start).
DROP TABLE IF EXISTS timeline_entries;
DROP TABLE IF EXISTS timeline_subjects;
DROP TABLE IF EXISTS timeline_entries_rebuild;
DROP TABLE IF EXISTS timeline_subjects_rebuild;
DELETE FROM projection_checkpoints WHERE name IN ('timeline', 'timeline@rebuild');

-- Which generation of each read model's tables queries read, and the version of the model's code
-- that built it (a new version is rebuilt at start). Earlier servers created this table at run time.
CREATE TABLE IF NOT EXISTS read_model_generations (
    name       TEXT   PRIMARY KEY NOT NULL,
    generation BIGINT NOT NULL
);
ALTER TABLE read_model_generations ADD COLUMN version BIGINT NOT NULL DEFAULT 1;

-- Generations a rebuild replaced, dropped by the engine after a grace period (milliseconds since the
-- epoch), for queries that had already picked them.
CREATE TABLE read_model_retired (
    name       TEXT   NOT NULL,
    generation BIGINT NOT NULL,
    retired_at BIGINT NOT NULL,
    PRIMARY KEY (name, generation)
);
