-- Every key change is announced to the other services (ApiKeyChanged) by a periodic job, so keys
-- issued through the CLI, which has no relay, are announced as well.
ALTER TABLE api_keys ADD COLUMN announced boolean NOT NULL DEFAULT false;
CREATE INDEX api_keys_unannounced ON api_keys (key_id) WHERE NOT announced;
