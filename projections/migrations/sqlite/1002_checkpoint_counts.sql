-- How many events the read model has applied since it was last (re)built. With exactly-once
-- application it always equals `position`; a test that finds them apart has found an event applied
-- twice (or skipped), which the timeline's own rows cannot show for events that concern no subject.
-- On a database that predates this column the count starts at 0; a rebuild makes it whole.
ALTER TABLE projection_checkpoints ADD COLUMN events_applied INTEGER NOT NULL DEFAULT 0;

-- The timeline's checkpoint row exists from the start, like on PostgreSQL, where the projector locks
-- it (`FOR UPDATE`) before applying a batch.
INSERT OR IGNORE INTO projection_checkpoints (name, position) VALUES ('timeline', 0);
