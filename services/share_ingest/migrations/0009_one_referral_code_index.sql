-- Codes are unique across tenants (0006), so the unique (tenant_id, referral_code) constraint from
-- 0001 repeated that index on every share written. It was the target of the clicks' foreign key,
-- which 0008 replaced by a per-statement check that looks codes up through shares_referral_code.
ALTER TABLE shares DROP CONSTRAINT shares_tenant_id_referral_code_key;
