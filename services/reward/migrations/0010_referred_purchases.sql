-- Purchases in campaigns that pay a cascade, by referee. Attribution may correct a referee's place
-- in the cascade later (ReferralReparented, after out-of-order arrivals); the purchases kept here
-- are then paid to the upline levels the correction reaches. Campaigns without a cascade keep none.
CREATE TABLE referred_purchases (
    tenant_id     text NOT NULL,
    campaign_id   text NOT NULL,
    referee_id    text NOT NULL,
    conversion_id uuid NOT NULL,
    referrer_id   text NOT NULL,
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    currency      char(3) NOT NULL,
    purchased_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id, referee_id, conversion_id)
);
