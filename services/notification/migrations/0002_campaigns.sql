-- notification's part of each campaign's definition, from the compacted campaign topic.
CREATE TABLE campaigns (
    tenant_id      text NOT NULL,
    campaign_id    text NOT NULL,
    version        integer NOT NULL,
    notify_by_email boolean NOT NULL,
    default_locale text NOT NULL,
    PRIMARY KEY (tenant_id, campaign_id)
);
