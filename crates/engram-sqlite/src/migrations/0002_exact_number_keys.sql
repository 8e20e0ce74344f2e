-- Engram format v2: index keys encode numbers exactly (the largest f64 not
-- above the number, then the integer remainder), so 64-bit integers above
-- 2^53 get distinct, ordered keys. Format v1 wrote the nearest f64 only.
-- Keys cannot be re-encoded in SQL (they are derived from document bodies
-- by the engine), so this step lists every collection holding v1 entries;
-- the engine rebuilds each one's entries at open and removes its row in the
-- same transaction. The format bump keeps v1 builds, which would write v1
-- keys, from opening the file.
CREATE TABLE index_rebuilds (
    coll_id INTEGER PRIMARY KEY
);

INSERT INTO index_rebuilds (coll_id) SELECT DISTINCT coll_id FROM index_entries;
