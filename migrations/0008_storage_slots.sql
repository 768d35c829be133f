-- The storage quota's counter spread over slot rows (issue 13, create throughput). One
-- counter per user (users.storage_bytes, 0005) was one row every write of that owner updated
-- and held locked through its commit, so one owner's concurrent writes committed one after
-- another. Each owner now has up to 16 slots; a write charges one of them, chosen at random.
--
-- The quota stays exact by escrow (src/services/resources/quota.ts): while a user's slots
-- carry `quota_bytes` (the quota their allowances divide), the allowances sum to it and each
-- slot's `used_bytes` stays within its `allowance_bytes`, so the slots together never pass
-- it. A write whose slot lacks room locks all the owner's slots in slot order and divides the
-- room left again, or refuses. NULL `quota_bytes`: not divided (a fresh count, an heir's new
-- bytes, an unlimited quota), so the next write that adds bytes under a quota divides it.
--
-- A slot's `used_bytes` may go below zero: bytes freed are credited to any slot. The user's
-- usage is the sum over its slots.

-- migrate:up

CREATE TABLE storage_slots (
  user_id         uuid     NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  slot            smallint NOT NULL CHECK (slot >= 0),
  used_bytes      bigint   NOT NULL DEFAULT 0,
  allowance_bytes bigint   NOT NULL DEFAULT 0,
  quota_bytes     bigint   CHECK (quota_bytes > 0),
  PRIMARY KEY (user_id, slot)
);

-- Each user's count moves whole into its slot 0; the other slots come with its first write
-- that needs them.
INSERT INTO storage_slots (user_id, slot, used_bytes) SELECT id, 0, storage_bytes FROM users;
ALTER TABLE users DROP COLUMN storage_bytes;

-- migrate:down

ALTER TABLE users ADD COLUMN storage_bytes bigint NOT NULL DEFAULT 0 CHECK (storage_bytes >= 0);
UPDATE users SET storage_bytes = greatest(coalesce((SELECT sum(s.used_bytes) FROM storage_slots s WHERE s.user_id = users.id), 0), 0);
DROP TABLE storage_slots;
