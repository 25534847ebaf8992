-- A reward's id is derived from its tenant and idempotency key (uuid5), so the primary key already
-- refuses a second reward under one key; the separate unique index on the 64-character key was the
-- largest index written per reward.
ALTER TABLE rewards DROP CONSTRAINT rewards_tenant_id_idempotency_key_key;
