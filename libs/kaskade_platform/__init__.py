"""Platform code every Kaskade service runs on: settings, logging, Postgres, migrations,
the transactional outbox and its relay, the idempotent batch consumer and the dead-letter path."""
