-- The credentials principals authenticate with, beside the log and never in it: the SHA-256 of a
-- bearer token (the token itself is shown once, when issued, and stored nowhere). Whether the
-- principal may act (its role, its organisation, whether it is revoked or expired) is in the log,
-- on the principal's own stream; a row here without that stream authenticates no one.
CREATE TABLE credentials (
    token_sha256 TEXT NOT NULL PRIMARY KEY,
    principal_id TEXT NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;
