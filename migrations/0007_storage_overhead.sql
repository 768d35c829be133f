-- Storage quotas count rows, not only JSON (issue 12 point 5, review): a resource with empty
-- data and metadata cost 3 bytes, so the quota did not bound what one user can store. Each
-- resource is now charged 256 bytes for its row plus its name's UTF-8 bytes, and 256 bytes
-- for each version's row (ROW_OVERHEAD_BYTES in src/services/resources/quota.ts). Versions
-- are numbered 1..n without gaps and never pruned, so a resource has `version` of them.
-- The overhead is added to the counts as they are, so bytes already counted stay exact.

-- migrate:up

UPDATE resources SET storage_bytes = storage_bytes + 256 + octet_length(name) + 256 * version;
UPDATE users SET storage_bytes = storage_bytes
  + coalesce((SELECT sum(256 + octet_length(r.name) + 256 * r.version) FROM resources r WHERE r.owner_id = users.id), 0);

-- migrate:down

UPDATE users SET storage_bytes = greatest(storage_bytes
  - coalesce((SELECT sum(256 + octet_length(r.name) + 256 * r.version) FROM resources r WHERE r.owner_id = users.id), 0), 0);
UPDATE resources SET storage_bytes = greatest(storage_bytes - 256 - octet_length(name) - 256 * version, 0);
