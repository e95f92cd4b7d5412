-- promoter schema 10: container images. A promotion with `containers: true`
-- tags its build's images with the label in the source registry and copies
-- them to every push registry, as a recorded step (`containers`) between
-- the hooks and the image links; every tag it made is kept, with the
-- digest read back.

-- The attempts' steps gain `containers`. SQLite cannot change a CHECK in
-- place: the table is made anew, its batch members set aside meanwhile
-- (they refer to it).
CREATE TEMP TABLE saved_members AS SELECT * FROM attempt_members;
DELETE FROM attempt_members;
CREATE TABLE attempts_new (
    id                INTEGER PRIMARY KEY,
    run_id            INTEGER REFERENCES runs (id),
    name              TEXT    NOT NULL,       -- the label
    build_id          INTEGER NOT NULL REFERENCES builds (id),
    previous_repo_dir TEXT,                   -- the trunk link's target when decided
    previous_image    TEXT,                   -- the image link's target when decided
    step              TEXT    NOT NULL
                      CHECK (step IN ('decided', 'hooks', 'containers', 'images', 'trunk', 'done', 'stopped')),
    note              TEXT    NOT NULL DEFAULT '',
    promotion_id      INTEGER REFERENCES promotions (id),
    started_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    kind              TEXT    NOT NULL DEFAULT 'promote'
                      CHECK (kind IN ('promote', 'manual', 'rollback', 'replay')),
    user              TEXT,                   -- NULL: the user of the run
    reason            TEXT    NOT NULL DEFAULT '',
    aggregate_hash    TEXT,                   -- a replayed row's aggregate
    aggregate         INTEGER NOT NULL DEFAULT 0 CHECK (aggregate IN (0, 1))
);
INSERT INTO attempts_new SELECT id, run_id, name, build_id, previous_repo_dir, previous_image,
       step, note, promotion_id, started_at, updated_at, kind, user, reason, aggregate_hash,
       aggregate FROM attempts;
DROP TABLE attempts;
ALTER TABLE attempts_new RENAME TO attempts;
CREATE INDEX attempts_open ON attempts (step) WHERE step NOT IN ('done', 'stopped');
INSERT INTO attempt_members SELECT * FROM saved_members;
DROP TABLE saved_members;

-- Each tag a promotion made and read back: in registry `registry`
-- (host[:port]), repository `repository` (namespace/image), tag `tag` now
-- names the manifest `digest`. The label's tags and, in a push registry,
-- the build's own `<full_hash>` tag. A promotion's rows are those of its
-- attempt (`attempts.promotion_id` once it is done).
CREATE TABLE container_tags (
    id          INTEGER PRIMARY KEY,
    attempt_id  INTEGER NOT NULL REFERENCES attempts (id),
    name        TEXT    NOT NULL,             -- the label promoted
    build_id    INTEGER NOT NULL REFERENCES builds (id),
    image       TEXT    NOT NULL,             -- openstack-nova-api
    registry    TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    tag         TEXT    NOT NULL,
    digest      TEXT    NOT NULL CHECK (digest LIKE 'sha256:%' AND length(digest) = 71),
    tagged_at   INTEGER NOT NULL
);
CREATE INDEX container_tags_by_label ON container_tags (name, image, tagged_at);
CREATE INDEX container_tags_by_attempt ON container_tags (attempt_id);

-- What the source registry held of a build's images when last asked: the
-- digest at `<full_hash>`, or NULL when the image was missing (the build is
-- blocked, and `why` says which). An image found is not asked again.
CREATE TABLE container_checks (
    build_id    INTEGER NOT NULL REFERENCES builds (id),
    registry    TEXT    NOT NULL,
    repository  TEXT    NOT NULL,
    digest      TEXT,
    checked_at  INTEGER NOT NULL,
    PRIMARY KEY (build_id, registry, repository)
);

CREATE VIEW container_tags_view AS
SELECT t.id, datetime(t.tagged_at, 'unixepoch') AS tagged, t.name, b.full_hash, t.image,
       t.registry, t.repository, t.tag, t.digest, a.promotion_id, a.kind,
       CASE WHEN a.step = 'done' THEN 1 ELSE 0 END AS promoted
FROM container_tags t
JOIN builds b ON b.id = t.build_id
JOIN attempts a ON a.id = t.attempt_id;
