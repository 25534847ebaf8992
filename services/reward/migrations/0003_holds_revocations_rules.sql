-- Holding periods, revocations, and the rules beyond a flat referral credit.
--
-- A customer has a pending and a confirmed account per currency: a grant moves money from the
-- campaign budget to pending (or straight to confirmed when there is no hold), confirmation moves
-- it from pending to confirmed, and a revocation moves it back to the budget. Rewards booked before
-- this migration were all pending.
ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
UPDATE accounts SET kind = 'customer_pending' WHERE kind = 'customer_rewards';
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check
    CHECK (kind IN ('funding', 'campaign_budget', 'customer_pending', 'customer_confirmed'));

ALTER TABLE ledger_transactions DROP CONSTRAINT ledger_transactions_kind_check;
ALTER TABLE ledger_transactions ADD CONSTRAINT ledger_transactions_kind_check
    CHECK (kind IN ('budget_funded', 'reward_granted', 'reward_confirmed', 'reward_revoked'));

-- A share reward has a share and no conversion. earned_at is when the rewarded fact happened
-- (caps count in windows of it); hold_until is null for a reward confirmed at once. Rewards from
-- before this migration have neither and are left pending for an operator to settle.
ALTER TABLE rewards
    ALTER COLUMN conversion_id DROP NOT NULL,
    ADD COLUMN share_id uuid,
    ADD COLUMN discount_code text,
    ADD COLUMN earned_at timestamptz,
    ADD COLUMN hold_until timestamptz,
    ADD COLUMN confirmed_at timestamptz,
    ADD COLUMN revoked_minor bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT revoked_within_amount CHECK (revoked_minor BETWEEN 0 AND amount_minor),
    ADD CONSTRAINT reward_has_a_source CHECK (conversion_id IS NOT NULL OR share_id IS NOT NULL);

-- Discount codes are unguessable and unique across every tenant, so a shop can redeem one alone.
CREATE UNIQUE INDEX rewards_discount_code ON rewards (discount_code) WHERE discount_code IS NOT NULL;
-- The confirmation job, across tenants and per tenant.
CREATE INDEX rewards_due ON rewards (hold_until) WHERE status = 'pending' AND hold_until IS NOT NULL;
CREATE INDEX rewards_due_by_tenant ON rewards (tenant_id, hold_until)
    WHERE status = 'pending' AND hold_until IS NOT NULL;
-- Revocation finds a conversion's rewards.
CREATE INDEX rewards_conversion ON rewards (tenant_id, conversion_id) WHERE tx_id IS NOT NULL;
-- Milestones and caps count what a recipient was granted under a rule.
CREATE INDEX rewards_earned ON rewards (tenant_id, campaign_id, rule_id, recipient_id, earned_at)
    WHERE tx_id IS NOT NULL;

-- Budget alerts already published, once per budget level (funded amount): raising the budget
-- re-arms them.
CREATE TABLE budget_alerts (
    tenant_id    text NOT NULL,
    campaign_id  text NOT NULL,
    currency     char(3) NOT NULL,
    funded_minor bigint NOT NULL,
    alert        text NOT NULL CHECK (alert IN ('warning_80', 'warning_95', 'exhausted')),
    raised_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id, currency, funded_minor, alert)
);
