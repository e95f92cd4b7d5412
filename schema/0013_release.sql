-- promoter schema 13: a database belongs to one release. The first command
-- that opens it through a config records that config's release and distro;
-- a config of another release naming it is refused before anything is
-- written.
CREATE TABLE release (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    name     TEXT    NOT NULL,
    distro   TEXT,
    bound_at INTEGER NOT NULL
);
