-- A bundle's event ids (500 uuids, 8 kB) went through pglz, which worked through the whole array
-- and then stored it as it was: uuid7 values share little within 4 kB. lz4 gets them to 6.3 kB in a
-- fraction of the time: inserting a bundle of 500 ids took 0.45 ms instead of 0.8 (the ids alone,
-- measured). Values already stored keep their form; new ones are written with lz4.
ALTER TABLE outbox_bundles ALTER COLUMN event_ids SET COMPRESSION lz4;
