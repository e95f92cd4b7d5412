-- promoter schema 5: what a mirror replayed from another database's
-- promotion history (`promoter replay`), and the name this database gives
-- itself in its own exports (`promoter export`).

-- This database's name in exports: random, made once, never changed. A
-- mirror keys what it replayed by it, so a source database that is made
-- anew (its ids starting again at 1) is not mistaken for the old one.
CREATE TABLE origin (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT    NOT NULL CHECK (length(name) > 0)
);
INSERT INTO origin (id, name) VALUES (1, lower(hex(randomblob(16))));

-- One exported promotion row that this database has dealt with. A row
-- found here is never applied again, even if the label moved on locally
-- since. Rows skipped because this mirror lacks the build are not kept, so
-- a later replay tries them again. Outcomes: 'applying' (the links were
-- being moved when the process died: the next replay finishes it),
-- 'applied' (the links moved; promotion_id is the local history row),
-- 'unchanged' (the label already pointed at the build), 'superseded' (a
-- later move of the same label from the same origin was applied first).
CREATE TABLE replayed (
    origin         TEXT    NOT NULL,
    source_id      INTEGER NOT NULL,
    name           TEXT    NOT NULL,            -- the label
    component      TEXT,
    full_hash      TEXT    NOT NULL,
    source_kind    TEXT    NOT NULL,            -- promote, manual, rollback, replay on the source
    source_time    INTEGER NOT NULL,            -- when the source moved the label
    source_user    TEXT    NOT NULL,
    outcome        TEXT    NOT NULL
                   CHECK (outcome IN ('applying', 'applied', 'unchanged', 'superseded')),
    promotion_id   INTEGER REFERENCES promotions (id),
    history_mark   INTEGER NOT NULL,            -- the newest local history row before applying
    replayed_at    INTEGER NOT NULL,
    PRIMARY KEY (origin, source_id)
);
CREATE INDEX replayed_label ON replayed (origin, name, component, source_id);

CREATE VIEW replayed_view AS
SELECT r.origin, r.source_id, r.name, r.component, r.full_hash, r.source_kind,
       datetime(r.source_time, 'unixepoch') AS source_time, r.source_user, r.outcome,
       r.promotion_id, datetime(r.replayed_at, 'unixepoch') AS replayed
FROM replayed r;
