-- Confirming one tenant's due rewards only happens when a test (or an operator) scopes the job; it
-- finds the tenant's rows through rewards_recipient_recent, which leads with the tenant. The index
-- kept for it was written by every pending grant.
DROP INDEX rewards_due_by_tenant;
