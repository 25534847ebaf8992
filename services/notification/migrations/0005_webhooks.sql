-- Webhooks to tenants. Deliveries are rows, claimed by the delivery loop with SKIP LOCKED; the
-- Kafka consumer only inserts them.

CREATE TABLE webhook_endpoints (
    endpoint_id     uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    url             text NOT NULL,
    event_types     text[] NOT NULL,
    description     text NOT NULL DEFAULT '',
    -- The signing key (whsec_...). HMAC needs it in clear; the tenant sees it once, at creation.
    secret          text NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    disabled_reason text,
    -- Set by the first failure after a success; an endpoint failing for too long is disabled.
    failing_since   timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_endpoints_tenant ON webhook_endpoints (tenant_id, created_at);
CREATE INDEX webhook_endpoints_active ON webhook_endpoints (endpoint_id) WHERE status = 'active';

-- One event for one endpoint. delivery_id is the webhook-id, the same on every attempt and on a
-- redelivery, so receivers can drop duplicates.
CREATE TABLE webhook_deliveries (
    delivery_id  uuid PRIMARY KEY,
    tenant_id    text NOT NULL,
    endpoint_id  uuid NOT NULL REFERENCES webhook_endpoints ON DELETE CASCADE,
    event_id     uuid NOT NULL,
    event_type   text NOT NULL,
    subject_id   text,  -- the customer the event names: erasure finds the payload by it
    payload      jsonb NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    round_start  integer NOT NULL DEFAULT 0,  -- attempts made before the latest redelivery request
    due_at       timestamptz NOT NULL DEFAULT now(),
    last_status  integer,
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (endpoint_id, due_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_listing ON webhook_deliveries (tenant_id, created_at DESC, delivery_id DESC);
CREATE INDEX webhook_deliveries_subject ON webhook_deliveries (tenant_id, subject_id) WHERE subject_id IS NOT NULL;

CREATE TABLE webhook_attempts (
    delivery_id  uuid NOT NULL REFERENCES webhook_deliveries ON DELETE CASCADE,
    attempt      integer NOT NULL,
    attempted_at timestamptz NOT NULL,
    duration_ms  integer NOT NULL,
    status_code  integer,
    error        text,
    PRIMARY KEY (delivery_id, attempt)
);

-- What the tenant should hear about its endpoints (e.g. one was disabled), listed by the API.
CREATE TABLE webhook_notices (
    notice_id   bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    endpoint_id uuid NOT NULL,
    kind        text NOT NULL,
    detail      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_notices_tenant ON webhook_notices (tenant_id, notice_id DESC);
