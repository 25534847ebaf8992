-- Shares, clicks and conversions arrive by the thousand per statement (batch intake, the click
-- writer's group commit), and their foreign keys were checked row by row: a trigger call with a
-- locking probe of the campaign or share per row, all on the same few rows. The same references
-- are now checked once per statement over the rows it wrote; a violation still aborts the
-- statement with SQLSTATE 23503. Campaigns and shares are never deleted (a campaign ends, a
-- customer's erasure keeps their links), which is the other half of what the keys guaranteed.
ALTER TABLE shares DROP CONSTRAINT shares_tenant_id_campaign_id_fkey;
ALTER TABLE clicks DROP CONSTRAINT clicks_tenant_id_referral_code_fkey;
ALTER TABLE conversions DROP CONSTRAINT conversions_tenant_id_campaign_id_fkey;

CREATE FUNCTION intake_refers_to_campaigns() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT DISTINCT n.tenant_id, n.campaign_id INTO bad FROM written n
    WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.tenant_id = n.tenant_id AND c.campaign_id = n.campaign_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('%s refers to campaign %s of tenant %s, which does not exist', TG_TABLE_NAME,
                             bad.campaign_id, bad.tenant_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER shares_refer AFTER INSERT ON shares
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION intake_refers_to_campaigns();
CREATE TRIGGER conversions_refer AFTER INSERT ON conversions
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION intake_refers_to_campaigns();

CREATE FUNCTION clicks_refer_to_shares() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tenant_id, n.referral_code INTO bad FROM written n
    WHERE NOT EXISTS (SELECT 1 FROM shares s WHERE s.tenant_id = n.tenant_id AND s.referral_code = n.referral_code)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('click refers to referral code %s of tenant %s, which does not exist',
                             bad.referral_code, bad.tenant_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER clicks_refer AFTER INSERT ON clicks
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION clicks_refer_to_shares();

CREATE FUNCTION intake_history_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are never deleted: shares, clicks and conversions refer to them', TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER campaigns_kept BEFORE DELETE OR TRUNCATE ON campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION intake_history_kept();
CREATE TRIGGER shares_kept BEFORE DELETE OR TRUNCATE ON shares
    FOR EACH STATEMENT EXECUTE FUNCTION intake_history_kept();
