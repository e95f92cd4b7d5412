-- promoter schema 9: the checksums of image files checked against their
-- builder's sidecars, each for the file as it was (size, mtime, inode): a
-- build's images are hashed once, not at every run that looks at them.
CREATE TABLE image_sums (
    path     TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('md5', 'sha256')),
    size     INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    inode    INTEGER NOT NULL,
    sum      TEXT    NOT NULL,
    PRIMARY KEY (path, kind)
);
