-- Tenant API key hashes, replicated from share-ingest's ApiKeyChanged events, so a service with a
-- tenant-facing API authenticates callers without asking share-ingest (or reading its schema).
CREATE TABLE tenant_keys (
    key_id      text PRIMARY KEY,
    tenant_id   text NOT NULL,
    secret_hash bytea NOT NULL,
    expires_at  timestamptz,
    revoked_at  timestamptz,
    changed_at  timestamptz NOT NULL
);
