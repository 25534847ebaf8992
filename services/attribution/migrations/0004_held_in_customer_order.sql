-- A customer's conversions are decided in their order: one held for its click holds the later
-- ones back (a later conversion must not bind the customer before an earlier one could).
ALTER TABLE held_conversions ADD COLUMN customer_id text;
CREATE INDEX held_by_customer ON held_conversions (tenant_id, customer_id) WHERE customer_id IS NOT NULL;
