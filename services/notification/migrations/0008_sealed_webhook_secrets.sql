-- Signing secrets are sealed at rest (notification.webhooks.sealing): AES-256-GCM under the
-- operator's key ring, bound to the endpoint id. Rows written before hold them in clear until the
-- reseal job, which runs every minute, seals them.
COMMENT ON COLUMN webhook_endpoints.secret IS
    'v1.<key id>.<nonce>.<ciphertext>: the signing secret sealed under KASKADE_NOTIFICATION_WEBHOOK_SECRET_KEYS';
