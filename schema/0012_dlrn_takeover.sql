-- promoter schema 12: what `import-dlrn-db` took from a DLRN database, by
-- DLRN's own ids, so that a second import adds nothing.
CREATE TABLE dlrn_taken (
    kind     TEXT    NOT NULL CHECK (kind IN ('commit', 'civote', 'civote_agg', 'promotion')),
    dlrn_id  INTEGER NOT NULL,               -- the row's id in DLRN's table
    local_id INTEGER,                        -- the row it became here (NULL: skipped for good)
    PRIMARY KEY (kind, dlrn_id)
) WITHOUT ROWID;
