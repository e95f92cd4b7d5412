-- promoter schema 17: updates, as rdopkg CI gated them. An update names
-- builds for Release/Dist combinations; its RPMs are read at submission;
-- every state change is a history row; phase 1, phase 2 and stage jobs
-- are recorded with the combination they ran on.
CREATE TABLE updates (
    id INTEGER PRIMARY KEY,
    -- The file's name without .yml: what updates/, ready/ and failed/ hold.
    name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('submitted', 'testing', 'passed', 'failed',
        'pooled', 'ready', 'staged', 'released', 'withdrawn')),
    file_text TEXT NOT NULL,
    submitted_at INTEGER NOT NULL,
    submitted_by TEXT NOT NULL,
    -- When phase 1 passed: the order phase 2's bisection takes them in.
    passed_at INTEGER,
    -- Why it failed or was withdrawn.
    reason TEXT
);
CREATE UNIQUE INDEX updates_live_name ON updates (name)
    WHERE state NOT IN ('failed', 'withdrawn', 'released');
CREATE INDEX updates_state ON updates (state, passed_at, id);

CREATE TABLE update_builds (
    update_id INTEGER NOT NULL REFERENCES updates (id),
    nvr TEXT NOT NULL,
    release TEXT NOT NULL,
    dist TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (update_id, release, dist, nvr)
);

-- Each binary RPM of a build, as its header says, and where the promoter
-- keeps its copy.
CREATE TABLE update_rpms (
    update_id INTEGER NOT NULL REFERENCES updates (id),
    release TEXT NOT NULL,
    dist TEXT NOT NULL,
    name TEXT NOT NULL,
    epoch INTEGER NOT NULL DEFAULT 0,
    version TEXT NOT NULL,
    rel TEXT NOT NULL,
    arch TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (update_id, release, dist, name, arch)
);

CREATE TABLE update_history (
    id INTEGER PRIMARY KEY,
    update_id INTEGER NOT NULL REFERENCES updates (id),
    state TEXT NOT NULL,
    at INTEGER NOT NULL,
    user TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX update_history_of ON update_history (update_id, id);

-- One phase job on one combination. A phase-2 or stage run has no update
-- of its own: `pool` lists the updates it tested, by id.
CREATE TABLE update_job_runs (
    id INTEGER PRIMARY KEY,
    phase TEXT NOT NULL CHECK (phase IN ('phase1', 'phase2', 'stage')),
    update_id INTEGER REFERENCES updates (id),
    pool TEXT NOT NULL DEFAULT '',
    release TEXT NOT NULL,
    dist TEXT NOT NULL,
    job_id TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('running', 'passed', 'failed', 'timed_out', 'error')),
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    log TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX update_job_runs_of ON update_job_runs (update_id, id);
CREATE INDEX update_job_runs_phase ON update_job_runs (phase, started_at);

-- Combinations taken out for a time by hand (the config's own are in it).
CREATE TABLE disabled_combinations (
    id INTEGER PRIMARY KEY,
    release TEXT NOT NULL,
    dist TEXT NOT NULL,
    reason TEXT NOT NULL,
    user TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    enabled_at INTEGER,
    enabled_by TEXT
);
CREATE INDEX disabled_combinations_live ON disabled_combinations (release, dist)
    WHERE enabled_at IS NULL;

-- Packages whose update needs a freshly provisioned host.
CREATE TABLE must_provision (
    package TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    added_at INTEGER NOT NULL
);

-- One publish of a combination's repo to a target of source updates
-- (stage or production): the version it wrote, for which updates.
CREATE TABLE update_publications (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    release TEXT NOT NULL,
    dist TEXT NOT NULL,
    version TEXT NOT NULL,
    dest TEXT NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    manifest_sha256 TEXT NOT NULL,
    -- The ids of the updates it published, comma-separated.
    updates TEXT NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE INDEX update_publications_of ON update_publications (target, release, dist, id);
