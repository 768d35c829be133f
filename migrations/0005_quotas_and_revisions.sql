-- Whole-record ETags and storage quotas (issue 12, points 8 and 5).

-- migrate:up

-- The revision counts every change of the record (name, metadata, data, owner): it is the
-- ETag, so a stale If-Match is refused whatever changed since. `version` still numbers the
-- data's history. Existing rows start at their version, so tags clients hold stay valid.
ALTER TABLE resources ADD COLUMN revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1);
UPDATE resources SET revision = version;

-- Bytes a resource holds: the JSON of every version's data and of its metadata, as written
-- (compact UTF-8 JSON, the measure of resources.maxDataBytes). History written before this
-- migration is counted as PostgreSQL prints it, a little larger.
ALTER TABLE resources ADD COLUMN storage_bytes bigint NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0);
UPDATE resources SET storage_bytes = octet_length(resources.metadata::text)
  + coalesce((SELECT sum(octet_length(v.data::text)) FROM resource_versions v WHERE v.resource_id = resources.id), 0);

-- The sum over the resources a user owns, kept in the transaction of every write, so the
-- quota (quotas.storageBytesPerUser) is checked without summing history.
ALTER TABLE users ADD COLUMN storage_bytes bigint NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0);
UPDATE users SET storage_bytes = coalesce((SELECT sum(r.storage_bytes) FROM resources r WHERE r.owner_id = users.id), 0);

-- migrate:down

ALTER TABLE users DROP COLUMN storage_bytes;
ALTER TABLE resources DROP COLUMN storage_bytes;
ALTER TABLE resources DROP COLUMN revision;
