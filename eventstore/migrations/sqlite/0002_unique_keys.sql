-- Keys only one aggregate may hold (a park's code, an enterprise code), claimed in the append
-- transaction of the command that registers them, so two concurrent registrations cannot both win.
-- Filled from the log's existing registrations on the first start after this migration (the first
-- one recorded keeps a key that was registered twice before; the later ones stay in the log as the
-- facts they are, and their aggregates keep working).
CREATE TABLE unique_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    aggregate_id TEXT NOT NULL,
    PRIMARY KEY (scope, key)
) STRICT;
