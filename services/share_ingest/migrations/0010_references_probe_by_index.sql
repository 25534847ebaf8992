-- The per-statement reference checks of 0008 could read the whole referenced table at every
-- statement: Postgres may turn a NOT EXISTS into a hash anti join over every share (or campaign),
-- and it plans a PL/pgSQL statement once per connection, typically while the table is still small,
-- then keeps that plan as the table grows. The click writer's every group commit would then read
-- every share ever recorded.
--
-- Now each distinct campaign (or code) the statement wrote is probed through the referenced table's
-- unique index: `OFFSET 0` keeps a NOT EXISTS a per-row subquery (no hash of the table), and
-- `enable_seqscan = off` keeps that subquery an index probe even when the plan is made while the
-- table is nearly empty. A batch of a thousand conversions of one campaign costs one probe.
CREATE OR REPLACE FUNCTION intake_refers_to_campaigns() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tenant_id, n.campaign_id INTO bad FROM (SELECT DISTINCT tenant_id, campaign_id FROM written) n
    WHERE NOT EXISTS (SELECT 1 FROM campaigns c WHERE c.tenant_id = n.tenant_id AND c.campaign_id = n.campaign_id
                      OFFSET 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('%s refers to campaign %s of tenant %s, which does not exist', TG_TABLE_NAME,
                             bad.campaign_id, bad.tenant_id);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION clicks_refer_to_shares() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tenant_id, n.referral_code INTO bad FROM (SELECT DISTINCT tenant_id, referral_code FROM written) n
    WHERE NOT EXISTS (SELECT 1 FROM shares s WHERE s.tenant_id = n.tenant_id AND s.referral_code = n.referral_code
                      OFFSET 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('click refers to referral code %s of tenant %s, which does not exist',
                             bad.referral_code, bad.tenant_id);
    END IF;
    RETURN NULL;
END $$;
