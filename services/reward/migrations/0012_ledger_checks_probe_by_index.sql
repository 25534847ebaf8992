-- The per-statement reference checks of 0009 read every ledger transaction, at every grant batch.
-- Postgres turned each NOT EXISTS into a hash of the whole referenced table (a "hashed SubPlan",
-- or a hash anti join): it plans a PL/pgSQL statement once per connection, typically while the
-- ledger is still small, and keeps that plan as the ledger grows. In a benchmark run of 25,000
-- purchases, the last batches' checks each read all 25,000 transactions, twice: grants got slower
-- with every reward ever granted.
--
-- Now each distinct transaction and account the statement wrote is probed through the referenced
-- table's primary key: `OFFSET 0` keeps a NOT EXISTS a per-row subquery (no hash of the table), and
-- `enable_seqscan = off` keeps that subquery an index probe even when the plan is made while the
-- table is nearly empty. The cost is per row written, whatever the history.
CREATE OR REPLACE FUNCTION ledger_entries_refer() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    bad record;
BEGIN
    -- Each transaction and each account once: a grant batch's entries share the campaign's budget.
    SELECT 'transaction ' || n.tx_id AS missing INTO bad FROM (SELECT DISTINCT tx_id FROM written) n
    WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.tx_id = n.tx_id OFFSET 0)
    LIMIT 1;
    IF NOT FOUND THEN
        SELECT 'account ' || n.account_id AS missing INTO bad FROM (SELECT DISTINCT account_id FROM written) n
        WHERE NOT EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = n.account_id OFFSET 0)
        LIMIT 1;
    END IF;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('ledger entry refers to a missing transaction or account: %s', bad.missing);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION rewards_refer() RETURNS trigger LANGUAGE plpgsql
SET enable_seqscan = off AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT n.tx_id INTO bad FROM written n
    WHERE n.tx_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.tx_id = n.tx_id OFFSET 0)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('reward refers to missing ledger transaction %s', bad);
    END IF;
    RETURN NULL;
END $$;
