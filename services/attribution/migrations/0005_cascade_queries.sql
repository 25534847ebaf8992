-- The cascade query API pages a seeder's or a campaign's tree by (generation, referee). The root
-- index replaces the narrower one (re-parenting uses its prefix).
CREATE INDEX bindings_root_paged ON bindings (tenant_id, root_seeder_id, generation, referee_id);
DROP INDEX bindings_root;
CREATE INDEX bindings_campaign_paged ON bindings (tenant_id, campaign_id, generation, referee_id);
