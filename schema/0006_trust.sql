-- promoter schema 6: builds in the builder's order and settled against its
-- `consistent` link; promotions by hand recorded step by step like a run's;
-- job runs that failed on the promoter's side; leases that last as long as
-- their job's processes.

-- The builder's order of builds: DLRN's own id (0 when commit.yaml has
-- none), then the build time, never later than when the build was first
-- seen (a builder's clock error cannot put one build ahead of every later
-- one), then the order of import.
ALTER TABLE builds ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE builds ADD COLUMN dt_order INTEGER NOT NULL DEFAULT 0;
-- 0 while the build's consistency is not final: a successful build newer
-- than the builder's `consistent` link. Its versions.csv is read again at
-- each import until the link reaches it; only then can it count as
-- consistent, so what counts as consistent agrees with the builder's link.
ALTER TABLE builds ADD COLUMN settled INTEGER NOT NULL DEFAULT 1 CHECK (settled IN (0, 1));
UPDATE builds SET seq = COALESCE(dlrn_id, 0), dt_order = MIN(dt_build, imported_at);
CREATE INDEX builds_order ON builds (seq, dt_order);
CREATE INDEX builds_consistent_order ON builds (consistent, seq, dt_order);
CREATE INDEX builds_unsettled ON builds (id) WHERE settled = 0;

-- Attempts of every command that moves a label, not only of runs: run_id
-- is NULL for `repo-promote`, `rollback` and `replay`, which record their
-- kind, user and reason here for the history row.
CREATE TABLE attempts_new (
    id                INTEGER PRIMARY KEY,
    run_id            INTEGER REFERENCES runs (id),
    name              TEXT    NOT NULL,       -- the label
    build_id          INTEGER NOT NULL REFERENCES builds (id),
    previous_repo_dir TEXT,                   -- the trunk link's target when decided
    previous_image    TEXT,                   -- the image link's target when decided
    step              TEXT    NOT NULL
                      CHECK (step IN ('decided', 'hooks', 'images', 'trunk', 'done', 'stopped')),
    note              TEXT    NOT NULL DEFAULT '',
    promotion_id      INTEGER REFERENCES promotions (id),
    started_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    kind              TEXT    NOT NULL DEFAULT 'promote'
                      CHECK (kind IN ('promote', 'manual', 'rollback', 'replay')),
    user              TEXT,                   -- NULL: the user of the run
    reason            TEXT    NOT NULL DEFAULT '',
    aggregate_hash    TEXT                    -- a replayed row's aggregate
);
INSERT INTO attempts_new (id, run_id, name, build_id, previous_repo_dir, previous_image, step,
                          note, promotion_id, started_at, updated_at)
SELECT id, run_id, name, build_id, previous_repo_dir, previous_image, step,
       note, promotion_id, started_at, updated_at FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_open ON attempts (step) WHERE step NOT IN ('done', 'stopped');

-- 'error': the job could not be started or finished because of the
-- promoter's side (its log directory not writable, no test environment in
-- time). Such a run casts no vote: it never blocks or fails the build, and
-- the next run tries again.
DROP VIEW job_runs_view;
CREATE TABLE job_runs_new (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER REFERENCES runs (id),
    promotion   TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,
    build_id    INTEGER NOT NULL REFERENCES builds (id),
    vote_id     INTEGER REFERENCES votes (id),
    pid         INTEGER,
    runner_pid  INTEGER NOT NULL,
    testenv     TEXT,
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outcome     TEXT    NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'passed', 'failed', 'timed_out', 'interrupted', 'unscheduled', 'error')),
    exit_code   INTEGER,
    signal      INTEGER,
    notes       TEXT    NOT NULL DEFAULT '',
    log_dir     TEXT    NOT NULL,
    archive     TEXT
);
INSERT INTO job_runs_new SELECT * FROM job_runs;
DROP TABLE job_runs;
ALTER TABLE job_runs_new RENAME TO job_runs;
CREATE INDEX job_runs_build ON job_runs (build_id, job_id);
CREATE INDEX job_runs_running ON job_runs (outcome) WHERE outcome = 'running';
CREATE VIEW job_runs_view AS
SELECT j.id, j.promotion, j.job_id, b.full_hash, j.outcome, j.notes,
       datetime(j.started_at, 'unixepoch') AS started,
       j.ended_at - j.started_at AS seconds, j.testenv, j.archive, j.run_id
FROM job_runs j JOIN builds b ON b.id = j.build_id;

-- The job run a lease was taken for (its PROMOTER_JOB_RUN marker): the
-- lease is held while any process carrying the marker lives, whatever
-- became of the runner that took it.
ALTER TABLE leases ADD COLUMN marker TEXT;
