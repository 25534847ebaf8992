-- Refunds and cancellations of recorded conversions, full or partial.
CREATE TABLE refunds (
    tenant_id     text NOT NULL,
    refund_id     uuid NOT NULL,
    conversion_id uuid NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('refund', 'cancellation')),
    amount_minor  bigint NOT NULL CHECK (amount_minor >= 0),
    occurred_at   timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, refund_id),
    FOREIGN KEY (tenant_id, conversion_id) REFERENCES conversions
);
CREATE INDEX refunds_conversion ON refunds (tenant_id, conversion_id);
