-- The ledger's references were foreign keys, which Postgres checks row by row: two trigger calls
-- (each a locking index probe) per ledger entry and one per reward. On a hot campaign that was the
-- largest cost of a grant batch. The same references are now checked once per statement, set-wise,
-- over the rows the statement wrote; a violation still aborts the statement with SQLSTATE 23503.
--
-- A foreign key also stops a referenced row from being deleted. The ledger is append-only instead:
-- transactions and entries can never be updated or deleted, accounts never deleted (an erasure
-- renames an account's owner; it keeps the account).
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_tx_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey;
ALTER TABLE rewards DROP CONSTRAINT rewards_tx_id_fkey;

CREATE FUNCTION ledger_entries_refer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.tx_id, n.account_id INTO bad FROM written n
    WHERE NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.tx_id = n.tx_id)
       OR NOT EXISTS (SELECT 1 FROM accounts a WHERE a.account_id = n.account_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING
            MESSAGE = format('ledger entry (tx %s, account %s) refers to a missing transaction or account',
                             bad.tx_id, bad.account_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entries_refer AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_refer();

CREATE FUNCTION rewards_refer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad uuid;
BEGIN
    SELECT n.tx_id INTO bad FROM written n
    WHERE n.tx_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM ledger_transactions t WHERE t.tx_id = n.tx_id)
    LIMIT 1;
    IF FOUND THEN
        RAISE foreign_key_violation USING MESSAGE = format('reward refers to missing ledger transaction %s', bad);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER rewards_refer_insert AFTER INSERT ON rewards
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION rewards_refer();
CREATE TRIGGER rewards_refer_update AFTER UPDATE ON rewards
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION rewards_refer();

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;

CREATE TRIGGER ledger_transactions_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
CREATE TRIGGER accounts_never_deleted BEFORE DELETE OR TRUNCATE ON accounts
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();
