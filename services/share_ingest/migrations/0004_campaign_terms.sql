-- Campaigns carry their full definition (terms) and a version that grows with every change;
-- the version orders the CampaignDefined events every other service applies.
ALTER TABLE campaigns
    ADD COLUMN version    integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    ADD COLUMN terms      jsonb,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
UPDATE campaigns SET terms = jsonb_build_object('landing_url', landing_url) WHERE terms IS NULL;
ALTER TABLE campaigns ALTER COLUMN terms SET NOT NULL;
