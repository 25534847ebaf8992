-- share-ingest's own tables: campaigns it issues links for, shares, clicks and conversions.

CREATE TABLE campaigns (
    tenant_id    text NOT NULL,
    campaign_id  text NOT NULL,
    landing_url  text NOT NULL,
    status       text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'ended')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, campaign_id)
);

CREATE TABLE shares (
    tenant_id       text NOT NULL,
    share_id        uuid NOT NULL,
    campaign_id     text NOT NULL,
    sharer_id       text NOT NULL,
    channel         text NOT NULL,
    message_variant text,
    sentiment       smallint,
    referral_code   text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, share_id),
    UNIQUE (tenant_id, referral_code),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns
);

CREATE TABLE clicks (
    tenant_id     text NOT NULL,
    click_id      uuid NOT NULL,
    referral_code text NOT NULL,
    visitor_id    text NOT NULL,
    ip_hash       text NOT NULL,
    user_agent    text NOT NULL,
    referer       text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, click_id),
    FOREIGN KEY (tenant_id, referral_code) REFERENCES shares (tenant_id, referral_code)
);
-- Repeat clicks by one visitor on one link are counted once per window.
CREATE INDEX clicks_visitor ON clicks (tenant_id, referral_code, visitor_id, occurred_at DESC);

CREATE TABLE conversions (
    tenant_id     text NOT NULL,
    conversion_id uuid NOT NULL,
    campaign_id   text NOT NULL,
    customer_id   text NOT NULL,
    kind          text NOT NULL,
    order_id      text,
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    currency      char(3) NOT NULL,
    referral_code text,
    click_id      uuid,
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, conversion_id),
    FOREIGN KEY (tenant_id, campaign_id) REFERENCES campaigns
);
