-- Engram on PostgreSQL, format v1: the initial schema.
-- Tables live in the backend's schema (the connection's search_path).
-- u64 values are stored as bigint after a checked conversion (never above
-- i64::MAX). Ordered text (names, document ids, keys) uses COLLATE "C",
-- which compares UTF-8 bytewise, and bytea compares bytewise: every
-- ordering matches the in-memory reference backend's.

-- Ids come from sequences (identity columns) and are never reused, so a
-- stale id can never address a later space's or collection's data.
-- A space's row doubles as the lock of its change log: a write transaction
-- locks it (SELECT ... FOR UPDATE) before it reads or writes the space.
CREATE TABLE spaces (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text COLLATE "C" NOT NULL UNIQUE,
    created_hlc bigint NOT NULL
);

CREATE TABLE collections (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    space_id   bigint NOT NULL,
    name       text COLLATE "C" NOT NULL,
    spec       text NOT NULL, -- CollectionSpec as JSON
    generation bigint NOT NULL,
    UNIQUE (space_id, name)
);

CREATE TABLE docs (
    coll_id     bigint NOT NULL,
    id          text COLLATE "C" NOT NULL,
    version     bigint NOT NULL,
    body        text NOT NULL,
    expires_at  bigint,
    updated_hlc bigint NOT NULL,
    PRIMARY KEY (coll_id, id)
);

CREATE INDEX docs_expires_at ON docs (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE index_entries (
    coll_id bigint NOT NULL,
    idx     bigint NOT NULL,
    key     bytea NOT NULL,
    doc_id  text COLLATE "C" NOT NULL,
    PRIMARY KEY (coll_id, idx, key, doc_id)
);

CREATE TABLE changes (
    space_id     bigint NOT NULL,
    position     bigint NOT NULL,
    hlc          bigint NOT NULL,
    op           smallint NOT NULL,
    collection   text NOT NULL,
    doc_id       text NOT NULL,
    version      bigint NOT NULL,
    content_hash bytea NOT NULL,
    -- The previous entry's hash is this space's row at position - 1's
    -- `hash`; it is not stored twice.
    hash         bytea NOT NULL,
    PRIMARY KEY (space_id, position)
);

CREATE TABLE idempotency (
    space_id     bigint NOT NULL,
    key          text COLLATE "C" NOT NULL,
    request_hash bytea NOT NULL,
    response     text NOT NULL,
    expires_at   bigint NOT NULL,
    PRIMARY KEY (space_id, key)
);

CREATE INDEX idempotency_expires_at ON idempotency (expires_at);
