-- What the attribution model, the fraud rules and reversals need beyond the first schema.

-- Each campaign's fraud rules (FraudRules as JSON; NULL = the defaults).
ALTER TABLE campaigns ADD COLUMN fraud jsonb;

-- The sharer's hashed email, to spot a self-referral under another customer id.
ALTER TABLE referral_links ADD COLUMN sharer_email_hash text;

-- First click and click flooding look at one visitor's or one IP's clicks in a time range.
ALTER TABLE clicks ADD COLUMN campaign_id text;
CREATE INDEX clicks_by_visitor ON clicks (tenant_id, visitor_id, clicked_at);
CREATE INDEX clicks_by_ip ON clicks (tenant_id, ip_hash, clicked_at);

-- A reversal repeats what was attributed: the amount and who referred whom.
ALTER TABLE conversion_outcomes ADD COLUMN amount_minor bigint;
ALTER TABLE conversion_outcomes ADD COLUMN currency text;
ALTER TABLE conversion_outcomes ADD COLUMN order_id text;

-- Devices (cookie visitor id, IP hash) a customer converted from: a referee converting from the
-- referrer's own device is the referrer.
CREATE TABLE customer_devices (
    tenant_id   text NOT NULL,
    customer_id text NOT NULL,
    visitor_id  text NOT NULL,
    ip_hash     text NOT NULL,
    PRIMARY KEY (tenant_id, customer_id, visitor_id, ip_hash)
);

-- Order ids already attributed, so a second conversion for the same order is refused.
CREATE TABLE attributed_orders (
    tenant_id     text NOT NULL,
    order_id      text NOT NULL,
    conversion_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);

-- Refused referrals, kept for a reviewer.
CREATE TABLE rejections (
    tenant_id     text NOT NULL,
    conversion_id uuid NOT NULL,
    campaign_id   text NOT NULL,
    referee_id    text NOT NULL,
    referrer_id   text NOT NULL,
    reason        text NOT NULL,
    detail        text NOT NULL,
    rejected_at   timestamptz NOT NULL,
    reviewed      boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, conversion_id)
);
CREATE INDEX rejections_by_time ON rejections (tenant_id, rejected_at);

-- A held conversion that came with a click only waits for the click's code as well.
ALTER TABLE held_conversions ADD COLUMN click_code text;
CREATE INDEX held_by_click_code ON held_conversions (tenant_id, click_code) WHERE click_code IS NOT NULL;

-- Refunds that arrived while their conversion was still undecided (held).
CREATE TABLE held_refunds (
    tenant_id     text NOT NULL,
    refund_id     uuid NOT NULL,
    conversion_id uuid NOT NULL,
    envelope      bytea NOT NULL,
    held_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, refund_id)
);
CREATE INDEX held_refunds_by_conversion ON held_refunds (tenant_id, conversion_id);
CREATE INDEX held_refunds_by_age ON held_refunds (held_at);

-- Each refund is reversed once, even when replayed under a new event id.
CREATE TABLE reversals (
    tenant_id     text NOT NULL,
    refund_id     uuid NOT NULL,
    conversion_id uuid NOT NULL,
    amount_minor  bigint NOT NULL,
    reversed_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, refund_id)
);
