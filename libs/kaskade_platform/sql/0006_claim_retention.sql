-- Claims are kept for a retention period, then purged (kaskade_platform.claims): without that the
-- table grew by every event a service ever consumed. A BRIN index finds the old ones: claims are
-- written in time order, and a BRIN index costs next to nothing to keep up on the hot insert path.
CREATE INDEX processed_events_processed_at ON processed_events USING brin (processed_at);
