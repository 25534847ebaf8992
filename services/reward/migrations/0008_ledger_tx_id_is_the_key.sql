-- Every ledger transaction's id is derived from what it books (the reward, and the refund for a
-- revocation; funding ids are random), so the primary key already refuses a second booking. The
-- unique index on the 64-character key was the largest one written per booking; what remains to
-- find is a tenant's transactions.
ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_tenant_id_idempotency_key_key;
CREATE INDEX ledger_transactions_tenant ON ledger_transactions (tenant_id);
