-- The platform's processed_events now keeps each consumer group's claims apart
-- (platform migration 0005), so the analytics group claims there like any other.
DROP TABLE analytics_processed_events;
