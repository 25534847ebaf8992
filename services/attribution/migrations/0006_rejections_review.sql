-- The review list pages newest first by (rejected_at, conversion_id); a batch's rejections share
-- one rejected_at, so the conversion id belongs in the index too.
CREATE INDEX rejections_review ON rejections (tenant_id, rejected_at, conversion_id);
DROP INDEX rejections_by_time;
