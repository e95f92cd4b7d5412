-- promoter schema 7: a promotion of several component builds as one (a
-- batch, written as an aggregate) is recorded step by step like any other,
-- so that a killed batch is completed by the next command, not left half
-- moved.

-- 1: the attempt writes `<trunk>/<name>/` as an aggregate of its members
-- (with `aggregate_hash`: a recorded aggregate, copied; without: joined
-- from the component links after they moved, as DLRN does).
ALTER TABLE attempts ADD COLUMN aggregate INTEGER NOT NULL DEFAULT 0 CHECK (aggregate IN (0, 1));

-- The component builds of a batch attempt, in order, each with the link
-- its component's label had when the batch was decided. An attempt of one
-- build has none: its build and link are on the attempt itself.
CREATE TABLE attempt_members (
    attempt_id        INTEGER NOT NULL REFERENCES attempts (id),
    position          INTEGER NOT NULL,
    build_id          INTEGER NOT NULL REFERENCES builds (id),
    previous_repo_dir TEXT,
    PRIMARY KEY (attempt_id, position)
);
