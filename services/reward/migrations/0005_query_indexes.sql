-- The tenant API: a customer's rewards newest first (keyset-paged), and a campaign's budget
-- totals from the index alone.
CREATE INDEX rewards_recipient_recent ON rewards (tenant_id, recipient_id, created_at DESC, reward_id DESC);
DROP INDEX rewards_recipient;
CREATE INDEX rewards_campaign_totals ON rewards (tenant_id, campaign_id, currency)
    INCLUDE (status, amount_minor, revoked_minor) WHERE tx_id IS NOT NULL;
