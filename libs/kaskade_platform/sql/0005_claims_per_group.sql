-- A service may run a second consumer group over the same topics (e.g. a read model next to its
-- main work): each group claims event ids on its own. The service's main group keeps ''.
ALTER TABLE processed_events ADD COLUMN consumer_group text NOT NULL DEFAULT '';
ALTER TABLE processed_events DROP CONSTRAINT processed_events_pkey, ADD PRIMARY KEY (event_id, consumer_group);
