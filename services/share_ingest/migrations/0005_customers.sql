-- Customer profiles: contact data and preferences. Personal data lives here and in
-- notification only; erasure deletes the row and replaces the id everywhere else.
CREATE TABLE customers (
    tenant_id         text NOT NULL REFERENCES tenants,
    customer_id       text NOT NULL,
    email             text,
    locale            text NOT NULL,
    marketing_consent boolean NOT NULL,
    segment           text,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);
CREATE INDEX shares_sharer ON shares (tenant_id, sharer_id);
CREATE INDEX conversions_customer ON conversions (tenant_id, customer_id);
