-- reward's copy of each campaign's definition, from the compacted campaign topic.
-- `funded_minor` is what the budget account has been funded with so far, so a changed budget
-- becomes one adjusting transaction.
DROP TABLE campaign_rules;

CREATE TABLE campaigns (
    tenant_id    text NOT NULL,
    campaign_id  text NOT NULL,
    version      integer NOT NULL,
    status       text NOT NULL,
    terms        jsonb NOT NULL,
    funded_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, campaign_id)
);
