-- rewards_campaign_totals (0005) serves every per-campaign read; one index less per reward written.
DROP INDEX rewards_campaign;
