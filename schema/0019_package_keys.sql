-- promoter schema 19: a package version is found by a 64-bit key of its
-- fields (`fields_key`), not by a unique index on all ten of them. That
-- index held every field of every row again, in the order of their text:
-- at 200,000 builds it outgrew the page cache, and every new row an import
-- met cost reads from disk. The key's index is a tenth of its size. Rows
-- are still distinct: the promoter looks a row up by its key and fields
-- before it adds one, inside the import's write transaction. The key is
-- FNV-1a (64 bits) of the fields in column order, each ended by the byte
-- 0xFF; computed here by the promoter's own function, which only a
-- migration can call.
CREATE TABLE package_versions_keyed (
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
    fields_key       INTEGER NOT NULL -- FNV-1a of the ten fields above
);
INSERT INTO package_versions_keyed
SELECT id, project, source_repo, source_sha, dist_repo, dist_sha, status, last_success,
       component, extended_sha, nvr,
       promoter_fields_key(project, source_repo, source_sha, dist_repo, dist_sha, status,
                           last_success, component, extended_sha, nvr)
FROM package_versions ORDER BY id;

-- Made again under its own name: build_packages' key, and any view that
-- names the table, refer to the new one (the promoter migrates with foreign
-- keys off and the legacy rename, and checks the keys before it commits).
DROP TABLE package_versions;
ALTER TABLE package_versions_keyed RENAME TO package_versions;
CREATE INDEX package_versions_key ON package_versions (fields_key);
