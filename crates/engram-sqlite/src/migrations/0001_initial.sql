-- Engram format v1: the initial schema.
-- u64 values are stored as INTEGER after a checked conversion (never above
-- i64::MAX). Keys and ids compare bytewise (BINARY collation), matching the
-- in-memory reference backend's ordering.

-- AUTOINCREMENT: ids are never reused after a delete, so a stale id can
-- never address a later space's or collection's data.
CREATE TABLE spaces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    created_hlc INTEGER NOT NULL
);

CREATE TABLE collections (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    space_id   INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    spec       TEXT    NOT NULL, -- CollectionSpec as JSON
    generation INTEGER NOT NULL,
    UNIQUE (space_id, name)
);

CREATE TABLE docs (
    coll_id     INTEGER NOT NULL,
    id          TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    expires_at  INTEGER,
    updated_hlc INTEGER NOT NULL,
    PRIMARY KEY (coll_id, id)
) WITHOUT ROWID;

CREATE INDEX docs_expires_at ON docs (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE index_entries (
    coll_id INTEGER NOT NULL,
    idx     INTEGER NOT NULL,
    key     BLOB    NOT NULL,
    doc_id  TEXT    NOT NULL,
    PRIMARY KEY (coll_id, idx, key, doc_id)
) WITHOUT ROWID;

CREATE TABLE changes (
    space_id     INTEGER NOT NULL,
    position     INTEGER NOT NULL,
    hlc          INTEGER NOT NULL,
    op           INTEGER NOT NULL,
    collection   TEXT    NOT NULL,
    doc_id       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    content_hash BLOB    NOT NULL,
    -- The previous entry's hash is this space's row at position - 1's
    -- `hash`; it is not stored twice.
    hash         BLOB    NOT NULL,
    PRIMARY KEY (space_id, position)
) WITHOUT ROWID;

CREATE TABLE idempotency (
    space_id     INTEGER NOT NULL,
    key          TEXT    NOT NULL,
    request_hash BLOB    NOT NULL,
    response     TEXT    NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (space_id, key)
) WITHOUT ROWID;

CREATE INDEX idempotency_expires_at ON idempotency (expires_at);
