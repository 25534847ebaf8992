-- notification's own tables. A notification is recorded once per recipient, channel and
-- source event; delivery (email, webhooks) works from these rows, never from the Kafka consumer.

CREATE TABLE notifications (
    notification_id uuid PRIMARY KEY,
    tenant_id       text NOT NULL,
    recipient_id    text NOT NULL,
    channel         text NOT NULL CHECK (channel IN ('email', 'webhook', 'feed')),
    template        text NOT NULL,
    source_event_id uuid NOT NULL,
    reward_id       uuid,
    context         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, source_event_id, channel, recipient_id)
);
CREATE INDEX notifications_pending ON notifications (created_at) WHERE status = 'pending';
CREATE INDEX notifications_recipient ON notifications (tenant_id, recipient_id, created_at DESC);
