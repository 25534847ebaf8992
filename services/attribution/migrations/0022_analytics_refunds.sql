-- A referee whose every attributed purchase was refunded or cancelled in full no longer counts as a
-- purchase in the funnel. Purchases and full refunds are counted per customer (sums merge in any
-- order); `purchased` is kept as purchases > refunded_purchases by the projection's upsert.
ALTER TABLE analytics_customers
    ADD COLUMN purchases integer NOT NULL DEFAULT 0 CHECK (purchases >= 0),
    ADD COLUMN refunded_purchases integer NOT NULL DEFAULT 0 CHECK (refunded_purchases >= 0);
UPDATE analytics_customers SET purchases = 1 WHERE purchased;

-- Conversions counted as fully refunded: a second full reversal of one conversion counts once.
CREATE TABLE analytics_refunds (
    tenant_id     text NOT NULL,
    conversion_id uuid NOT NULL,
    PRIMARY KEY (tenant_id, conversion_id)
);
