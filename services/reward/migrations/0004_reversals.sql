-- The furthest each conversion has been refunded, so a reward granted after its refund was seen
-- (a replay, or two consumers racing) is revoked at once: the ledger ends the same whatever the order.
CREATE TABLE reversals (
    tenant_id               text NOT NULL,
    conversion_id           uuid NOT NULL,
    refund_id               uuid NOT NULL,
    kind                    text NOT NULL,
    refunded_total_minor    bigint NOT NULL,
    conversion_amount_minor bigint NOT NULL,
    full_refund             boolean NOT NULL,
    PRIMARY KEY (tenant_id, conversion_id)
);
