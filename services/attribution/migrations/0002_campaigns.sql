-- attribution's part of each campaign's definition, from the compacted campaign topic.
CREATE TABLE campaigns (
    tenant_id   text NOT NULL,
    campaign_id text NOT NULL,
    version     integer NOT NULL,
    status      text NOT NULL,
    window_days integer NOT NULL,
    model       text NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id)
);
