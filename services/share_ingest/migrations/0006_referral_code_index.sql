-- The redirect finds a link by its code alone (the URL carries no tenant), so codes are unique
-- across tenants and looked up through this index.
CREATE UNIQUE INDEX shares_referral_code ON shares (referral_code);
