-- Tenants (product backends) and their API keys. A key's secret is never stored, only its
-- SHA-256 (the secret is 256 random bits, so a fast hash is safe). Rotation gives old keys an
-- expiry (the grace period); revocation is immediate.

CREATE TABLE tenants (
    tenant_id  text PRIMARY KEY CHECK (tenant_id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Tenants that used the service before tenants were registered keep their data.
INSERT INTO tenants (tenant_id, name) SELECT DISTINCT tenant_id, tenant_id FROM campaigns ON CONFLICT DO NOTHING;
ALTER TABLE campaigns ADD FOREIGN KEY (tenant_id) REFERENCES tenants;

CREATE TABLE api_keys (
    key_id      text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants,
    secret_hash bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);
