-- Finished deliveries are purged after the retention period; these find them without a scan.
CREATE INDEX webhook_deliveries_finished ON webhook_deliveries (created_at) WHERE status <> 'pending';
CREATE INDEX email_messages_finished ON email_messages (created_at) WHERE status <> 'pending';
