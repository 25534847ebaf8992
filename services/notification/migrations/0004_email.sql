-- Email delivery, worked from these rows by the delivery loop (never inside the Kafka consumer).

-- One-click unsubscribe (RFC 8058) records the opt-out here. Erasure deletes the contact row and
-- with it the opt-out: there is no address left to write to.
ALTER TABLE contacts ADD COLUMN unsubscribed_at timestamptz;

-- A notification that should reach its recipient by email, at most once: the key is the
-- notification, itself unique per (tenant, source event, channel, recipient). The planner moves
-- each job into exactly one message (or suppresses it), under a row lock.
CREATE TABLE email_jobs (
    notification_id uuid PRIMARY KEY REFERENCES notifications ON DELETE CASCADE,
    tenant_id       text NOT NULL,
    recipient_id    text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'queued', 'suppressed')),
    due_at          timestamptz NOT NULL DEFAULT now(),
    message_id      uuid,
    reason          text,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX email_jobs_due ON email_jobs (due_at) WHERE status = 'pending';
CREATE INDEX email_jobs_recipient ON email_jobs (tenant_id, recipient_id);

-- One email: a single notification (message id = notification id) or a digest of several. The
-- rendered text is never stored; it is made from the notifications' context when sent.
CREATE TABLE email_messages (
    message_id       uuid PRIMARY KEY,
    tenant_id        text NOT NULL,
    recipient_id     text NOT NULL,
    notification_ids uuid[] NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('single', 'digest')),
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'suppressed')),
    due_at           timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz
);
CREATE INDEX email_messages_due ON email_messages (due_at) WHERE status = 'pending';
-- The per-recipient rate limit counts a recipient's recent messages.
CREATE INDEX email_messages_recipient ON email_messages (tenant_id, recipient_id, created_at);

-- The feed pages newest first with (created_at, notification_id) as the cursor.
CREATE INDEX notifications_feed ON notifications (tenant_id, recipient_id, created_at DESC, notification_id DESC);
DROP INDEX notifications_recipient;
