-- Contact data, the only copy outside share-ingest. Erasure deletes it.
CREATE TABLE contacts (
    tenant_id         text NOT NULL,
    customer_id       text NOT NULL,
    email             text,
    locale            text NOT NULL,
    marketing_consent boolean NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, customer_id)
);

-- Erasure and profile updates travel on different topics, so an update may arrive after the
-- erasure it predates. A hash of the erased id (not the id) lets such late updates be dropped.
CREATE TABLE erasures (
    tenant_id     text NOT NULL,
    customer_hash bytea NOT NULL,
    erased_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, customer_hash)
);
