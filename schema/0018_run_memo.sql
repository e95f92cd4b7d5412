-- promoter schema 18: what the last run that had nothing to do decided,
-- so that a run that finds everything as that run left it (the
-- same config and binary, the same links, no write to this database since)
-- repeats its decisions instead of making them again. Every write of the
-- promoter deletes the row first; a run that finds it and the same
-- fingerprint records itself in `runs` and does nothing else.
CREATE TABLE run_memo (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT    NOT NULL,   -- the binary, the config's bytes, the builder's links, the labels
    run_id      INTEGER NOT NULL,   -- the run that decided
    decided_at  INTEGER NOT NULL,
    valid_until INTEGER NOT NULL,   -- ten minutes on, or sooner: when the first live waiver expires
    blocked     INTEGER NOT NULL,
    idle        INTEGER NOT NULL,
    lines       TEXT    NOT NULL    -- what that run said: a JSON array of [level, line]
);
