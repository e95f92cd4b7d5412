-- promoter schema 1: builds, their packages, votes, promotions and labels.
-- Applied once, in one transaction, by `promoter init` (or any command that
-- opens the database); never edited after it ships: changes go in a new file.

-- One package build that DLRN made: a row of a hash directory's commit.yaml.
CREATE TABLE builds (
    id            INTEGER PRIMARY KEY,
    commit_hash   TEXT    NOT NULL CHECK (commit_hash <> ''),
    distro_hash   TEXT    NOT NULL CHECK (distro_hash <> ''),
    extended_hash TEXT    NOT NULL DEFAULT '',  -- '' when the build has none
    component     TEXT,                         -- NULL outside component mode
    project_name  TEXT    NOT NULL,
    commit_branch TEXT,
    status        TEXT    NOT NULL,             -- DLRN's: SUCCESS, FAILED, RETRY
    flags         INTEGER NOT NULL DEFAULT 0,   -- DLRN's flags; value 2 = purged
    dt_commit     INTEGER,                      -- seconds since the epoch
    dt_distro     INTEGER,
    dt_extended   INTEGER,
    dt_build      INTEGER NOT NULL,
    notes         TEXT,
    dlrn_id       INTEGER,                      -- DLRN's own id, from commit.yaml
    repo_dir      TEXT    NOT NULL UNIQUE,      -- the hash directory, relative to the trunk
    full_hash     TEXT    NOT NULL,             -- <commit_hash>_<distro_hash[0:8]>
    consistent    INTEGER NOT NULL DEFAULT 0 CHECK (consistent IN (0, 1)),
    package_count INTEGER NOT NULL DEFAULT 0,    -- rows of its versions.csv
    imported_at   INTEGER NOT NULL,
    UNIQUE (commit_hash, distro_hash, extended_hash)
);
CREATE INDEX builds_full_hash ON builds (full_hash);
CREATE INDEX builds_consistent ON builds (consistent, dt_build);
CREATE INDEX builds_dt_build ON builds (dt_build);

-- A distinct row of some versions.csv (one package at one version), its
-- fields as DLRN wrote them. Rows repeat from one hash directory to the
-- next, so each is stored once.
CREATE TABLE package_versions (
    id               INTEGER PRIMARY KEY,
    project          TEXT NOT NULL,
    source_repo      TEXT NOT NULL,
    source_sha       TEXT NOT NULL,
    dist_repo        TEXT NOT NULL,
    dist_sha         TEXT NOT NULL,
    status           TEXT NOT NULL,
    last_success     TEXT NOT NULL,   -- as written: seconds, or None
    component        TEXT NOT NULL,   -- as written: a name, or None
    extended_sha     TEXT NOT NULL,   -- as written: a hash, or None
    nvr              TEXT NOT NULL,
    UNIQUE (project, source_sha, dist_sha, extended_sha, status, last_success, nvr, source_repo, dist_repo, component)
);

-- Which package versions make up the repo of each build (its versions.csv).
CREATE TABLE build_packages (
    build_id           INTEGER NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    package_version_id INTEGER NOT NULL REFERENCES package_versions (id),
    PRIMARY KEY (build_id, package_version_id)
) WITHOUT ROWID;

-- An aggregate: the combined delorean.repo of component builds (component
-- mode), named by the md5 of that file.
CREATE TABLE aggregates (
    id          INTEGER PRIMARY KEY,
    agg_hash    TEXT    NOT NULL UNIQUE,
    repo_dir    TEXT,                           -- relative to the trunk, when on disk
    created_at  INTEGER NOT NULL
);

CREATE TABLE aggregate_builds (
    aggregate_id INTEGER NOT NULL REFERENCES aggregates (id) ON DELETE CASCADE,
    build_id     INTEGER NOT NULL REFERENCES builds (id),
    PRIMARY KEY (aggregate_id, build_id)
) WITHOUT ROWID;

-- One result of one CI job for one build or one aggregate. Append-only:
-- a job that is re-run adds a vote; any success counts.
CREATE TABLE votes (
    id           INTEGER PRIMARY KEY,
    build_id     INTEGER REFERENCES builds (id),
    aggregate_id INTEGER REFERENCES aggregates (id),
    job_id       TEXT    NOT NULL CHECK (length(job_id) BETWEEN 1 AND 255),
    success      INTEGER NOT NULL CHECK (success IN (0, 1)),
    in_progress  INTEGER NOT NULL DEFAULT 0 CHECK (in_progress IN (0, 1)),
    url          TEXT    NOT NULL DEFAULT '',
    notes        TEXT    NOT NULL DEFAULT '',
    timestamp    INTEGER NOT NULL,              -- when the job ran (as reported)
    user         TEXT    NOT NULL,
    recorded_at  INTEGER NOT NULL,              -- when it was written here
    CHECK ((build_id IS NULL) <> (aggregate_id IS NULL))
);
CREATE INDEX votes_build ON votes (build_id, job_id) WHERE build_id IS NOT NULL;
CREATE INDEX votes_aggregate ON votes (aggregate_id, job_id) WHERE aggregate_id IS NOT NULL;
CREATE INDEX votes_timestamp ON votes (timestamp);
CREATE INDEX votes_job_timestamp ON votes (job_id, timestamp);

-- The promotion history: every move of a label, append-only, in insertion
-- order (id), so promotions within one second keep their order.
CREATE TABLE promotions (
    id             INTEGER PRIMARY KEY,
    name           TEXT    NOT NULL,            -- the label
    build_id       INTEGER NOT NULL REFERENCES builds (id),
    previous_build_id INTEGER REFERENCES builds (id),
    aggregate_hash TEXT,                        -- set when part of an aggregate promotion
    component      TEXT,
    kind           TEXT    NOT NULL CHECK (kind IN ('promote', 'manual', 'rollback', 'replay')),
    timestamp      INTEGER NOT NULL,
    user           TEXT    NOT NULL,
    reason         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX promotions_name ON promotions (name, id);
CREATE INDEX promotions_build ON promotions (build_id);
CREATE INDEX promotions_aggregate ON promotions (aggregate_hash) WHERE aggregate_hash IS NOT NULL;

-- Where each label points now, as last seen or written: the builder's links
-- (source 'builder', read by import) and the promotions' (source 'promoter').
CREATE TABLE labels (
    name              TEXT    NOT NULL,
    component         TEXT    NOT NULL DEFAULT '',   -- '' outside component mode
    build_id          INTEGER REFERENCES builds (id),
    previous_build_id INTEGER REFERENCES builds (id),
    source            TEXT    NOT NULL CHECK (source IN ('builder', 'promoter')),
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (name, component)
);

-- Views with readable times, for sqlite3 sessions.
CREATE VIEW builds_view AS
SELECT b.id, b.full_hash, b.component, b.project_name, b.status,
       CASE WHEN b.flags & 2 THEN 1 ELSE 0 END AS purged,
       b.consistent,
       datetime(b.dt_build, 'unixepoch') AS built,
       datetime(b.dt_commit, 'unixepoch') AS committed,
       b.commit_hash, b.distro_hash, NULLIF(b.extended_hash, '') AS extended_hash,
       b.repo_dir
FROM builds b;

CREATE VIEW votes_view AS
SELECT v.id, COALESCE(b.full_hash, a.agg_hash) AS hash, v.job_id,
       CASE WHEN v.in_progress THEN 'running' WHEN v.success THEN 'passed' ELSE 'failed' END AS result,
       datetime(v.timestamp, 'unixepoch') AS time, v.url, v.notes, v.user,
       b.commit_hash, b.distro_hash, v.build_id, v.aggregate_id
FROM votes v
LEFT JOIN builds b ON b.id = v.build_id
LEFT JOIN aggregates a ON a.id = v.aggregate_id;

CREATE VIEW promotions_view AS
SELECT p.id, p.name, b.full_hash, pb.full_hash AS previous_full_hash, p.kind,
       datetime(p.timestamp, 'unixepoch') AS time, p.user, p.reason,
       p.aggregate_hash, p.component, b.commit_hash, b.distro_hash
FROM promotions p
JOIN builds b ON b.id = p.build_id
LEFT JOIN builds pb ON pb.id = p.previous_build_id;

CREATE VIEW labels_view AS
SELECT l.name, l.component, b.full_hash, pb.full_hash AS previous_full_hash, l.source,
       datetime(l.updated_at, 'unixepoch') AS updated
FROM labels l
LEFT JOIN builds b ON b.id = l.build_id
LEFT JOIN builds pb ON pb.id = l.previous_build_id;
