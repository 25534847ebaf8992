-- Delivery tables are queues: rows are claimed and updated within seconds, and every claim walks
-- the partial "due" indexes from their start, over entries that updates have left dead. Vacuum
-- them after 1% of the rows changed (default 20%), without the cost-based pauses.
ALTER TABLE webhook_deliveries SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE email_jobs SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);
ALTER TABLE email_messages SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_cost_delay = 0);
