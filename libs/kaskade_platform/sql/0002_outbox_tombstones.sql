-- A row without a body is a tombstone: it deletes its key from a compacted topic (erasure).
ALTER TABLE outbox ALTER COLUMN body DROP NOT NULL;
