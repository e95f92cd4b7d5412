-- promoter schema 2: runs of the pipeline, promotions carried out step by
-- step, and waivers.

-- One `promoter run` (the cron entry).
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    pid         INTEGER NOT NULL,
    outcome     TEXT    NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'completed', 'failed', 'interrupted')),
    promoted    INTEGER NOT NULL DEFAULT 0,   -- labels moved by this run
    blocked     INTEGER NOT NULL DEFAULT 0,   -- promotions whose newest candidate is blocked
    summary     TEXT    NOT NULL DEFAULT ''
);

-- A promotion being carried out, one recorded step at a time, so that a run
-- killed in the middle is completed by the next run and nothing is done
-- twice. Steps: decided -> hooks (hooks ran) -> images (image links moved)
-- -> trunk (trunk links moved) -> done (history row written, in the same
-- transaction); or stopped (a hook failed, or someone else moved the label).
CREATE TABLE attempts (
    id                INTEGER PRIMARY KEY,
    run_id            INTEGER NOT NULL REFERENCES runs (id),
    name              TEXT    NOT NULL,       -- the label
    build_id          INTEGER NOT NULL REFERENCES builds (id),
    previous_repo_dir TEXT,                   -- the trunk link's target when decided
    previous_image    TEXT,                   -- the image link's target when decided
    step              TEXT    NOT NULL
                      CHECK (step IN ('decided', 'hooks', 'images', 'trunk', 'done', 'stopped')),
    note              TEXT    NOT NULL DEFAULT '',
    promotion_id      INTEGER REFERENCES promotions (id),
    started_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX attempts_open ON attempts (step) WHERE step NOT IN ('done', 'stopped');

-- A recorded, expiring exception in place of editing the criteria: job
-- `job_id` need not pass for `promotion` (on one build, or on every build
-- when build_id is NULL). Removing one sets removed_at; rows stay.
CREATE TABLE waivers (
    id          INTEGER PRIMARY KEY,
    promotion   TEXT    NOT NULL,
    job_id      TEXT    NOT NULL CHECK (length(job_id) BETWEEN 1 AND 255),
    build_id    INTEGER REFERENCES builds (id),
    reason      TEXT    NOT NULL CHECK (reason <> ''),
    user        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    removed_at  INTEGER,
    removed_by  TEXT
);
CREATE INDEX waivers_promotion ON waivers (promotion) WHERE removed_at IS NULL;

CREATE VIEW runs_view AS
SELECT id, datetime(started_at, 'unixepoch') AS started,
       ended_at - started_at AS seconds, outcome, promoted, blocked, summary, pid
FROM runs;

CREATE VIEW waivers_view AS
SELECT w.id, w.promotion, w.job_id, b.full_hash, w.reason, w.user,
       datetime(w.created_at, 'unixepoch') AS created,
       datetime(w.expires_at, 'unixepoch') AS expires,
       datetime(w.removed_at, 'unixepoch') AS removed, w.removed_by,
       CASE WHEN w.removed_at IS NULL AND (w.expires_at IS NULL OR w.expires_at > unixepoch())
            THEN 1 ELSE 0 END AS live
FROM waivers w LEFT JOIN builds b ON b.id = w.build_id;
