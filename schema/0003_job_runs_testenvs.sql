-- promoter schema 3: jobs run by `run`, and the test-environment broker.

-- One run of one job on one build. Its vote is recorded in progress when
-- the job starts and replaced by the final one when it ends. 'interrupted'
-- (its runner died) and 'unscheduled' (no test environment came free in
-- time) are failures that do not count as voted on: the next run tries again.
CREATE TABLE job_runs (
    id          INTEGER PRIMARY KEY,
    run_id      INTEGER REFERENCES runs (id),
    promotion   TEXT    NOT NULL,
    job_id      TEXT    NOT NULL,
    build_id    INTEGER NOT NULL REFERENCES builds (id),
    vote_id     INTEGER REFERENCES votes (id),
    pid         INTEGER,                      -- the job's process (and group) id
    runner_pid  INTEGER NOT NULL,             -- the `promoter run` that started it
    testenv     TEXT,                         -- the environment it held
    started_at  INTEGER NOT NULL,
    ended_at    INTEGER,
    outcome     TEXT    NOT NULL DEFAULT 'running'
                CHECK (outcome IN ('running', 'passed', 'failed', 'timed_out', 'interrupted', 'unscheduled')),
    exit_code   INTEGER,
    signal      INTEGER,
    notes       TEXT    NOT NULL DEFAULT '',
    log_dir     TEXT    NOT NULL,
    archive     TEXT                          -- the packed logs, once the job ended
);
CREATE INDEX job_runs_build ON job_runs (build_id, job_id);
CREATE INDEX job_runs_running ON job_runs (outcome) WHERE outcome = 'running';

-- The test environments a job can hold exclusively, by pool.
CREATE TABLE testenvs (
    name      TEXT    PRIMARY KEY,
    pool      TEXT    NOT NULL,
    data_file TEXT    NOT NULL,               -- the JSON descriptor a job gets as TE_DATAFILE
    added_at  INTEGER NOT NULL
);
CREATE INDEX testenvs_pool ON testenvs (pool);

-- Who holds (held) which environment. At most one live lease per
-- environment, enforced by the unique index.
CREATE TABLE leases (
    id             INTEGER PRIMARY KEY,
    testenv        TEXT    NOT NULL REFERENCES testenvs (name),
    holder         TEXT    NOT NULL,
    pid            INTEGER,                   -- a local holder's process: taken back when it is gone
    acquired_at    INTEGER NOT NULL,
    expires_at     INTEGER,                   -- taken back after this
    released_at    INTEGER,
    release_reason TEXT
);
CREATE UNIQUE INDEX leases_live ON leases (testenv) WHERE released_at IS NULL;

CREATE VIEW job_runs_view AS
SELECT j.id, j.promotion, j.job_id, b.full_hash, j.outcome, j.notes,
       datetime(j.started_at, 'unixepoch') AS started,
       j.ended_at - j.started_at AS seconds, j.testenv, j.archive, j.run_id
FROM job_runs j JOIN builds b ON b.id = j.build_id;

CREATE VIEW testenvs_view AS
SELECT t.name, t.pool, l.id AS lease, l.holder,
       datetime(l.acquired_at, 'unixepoch') AS since,
       datetime(l.expires_at, 'unixepoch') AS expires, t.data_file
FROM testenvs t LEFT JOIN leases l ON l.testenv = t.name AND l.released_at IS NULL;

-- Component filters (repo-get --component) find their builds at once.
CREATE INDEX builds_component ON builds (component) WHERE component IS NOT NULL;
