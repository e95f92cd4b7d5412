-- promoter schema 4: publications of builds to buildlogs-style trees.

-- One publish of one build to one target. A local target keeps its
-- versions in a hidden sibling directory, `.<name>.versions/<full_hash>`,
-- and `dest` is a symlink switched atomically to the new version.
CREATE TABLE publications (
    id              INTEGER PRIMARY KEY,
    target          TEXT    NOT NULL,
    build_id        INTEGER NOT NULL REFERENCES builds (id),
    full_hash       TEXT    NOT NULL,
    dest            TEXT    NOT NULL,
    files           INTEGER NOT NULL,   -- every file of the version, sidecars and SHA256SUMS included
    bytes           INTEGER NOT NULL,
    copied_files    INTEGER NOT NULL,   -- written anew (the rest hard-linked from the previous version)
    copied_bytes    INTEGER NOT NULL,
    manifest_sha256 TEXT    NOT NULL,   -- the sha256 of the version's SHA256SUMS
    removed         TEXT    NOT NULL DEFAULT '',  -- versions removed by retention, comma-separated
    user            TEXT    NOT NULL,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER NOT NULL
);
CREATE INDEX publications_target ON publications (target, id);

CREATE VIEW publications_view AS
SELECT p.id, p.target, p.full_hash, p.files, p.bytes, p.copied_files, p.copied_bytes,
       datetime(p.finished_at, 'unixepoch') AS published, p.finished_at - p.started_at AS seconds,
       p.manifest_sha256, p.removed, p.user, p.dest
FROM publications p;
