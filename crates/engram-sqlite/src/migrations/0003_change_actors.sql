-- Engram format v3: each change-log entry records who wrote it (an API key
-- id, `local` for a library call, `engram:<task>` for background work) and
-- the request id, both covered by the entry's hash. Entries written before
-- keep NULL in both and their format-v1 hash. The format bump keeps older
-- builds, which would append entries without an actor, from opening the file.
ALTER TABLE changes ADD COLUMN actor TEXT;
ALTER TABLE changes ADD COLUMN request_id TEXT;
