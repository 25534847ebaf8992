-- Rows that must not outlive their publication (an erasure names the customer it erases).
ALTER TABLE outbox ADD COLUMN ephemeral boolean NOT NULL DEFAULT false;
