-- No query looks bindings up by referrer: the cascade is walked by root seeder (bindings_root_paged)
-- and a customer's upline is stored with them. The index cost every new referral one more index
-- insert (a quarter of the bindings insert); erasure, the only statement that named referrer_id,
-- scans the tenant's bindings either way (it also matches inside the upline array).
DROP INDEX IF EXISTS bindings_referrer;
