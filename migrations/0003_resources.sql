-- Versioned resources: immutable version history enforced by the database, shares as
-- permissions tied to their resource, and idempotency keys for retried creates and restores.

-- migrate:up

-- Versions never change. The database refuses UPDATE, DELETE and TRUNCATE, with two
-- exceptions its own referential actions need: the rows of a resource being deleted go
-- with it (ON DELETE CASCADE), and the author of a version becomes NULL when that user's
-- account is deleted (ON DELETE SET NULL); nothing else about a version may change.
CREATE FUNCTION resource_versions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM resources WHERE id = OLD.resource_id) THEN
    RETURN OLD;
  END IF;
  IF TG_OP = 'UPDATE'
     AND NEW.created_by IS NULL AND OLD.created_by IS NOT NULL
     AND NEW.id = OLD.id AND NEW.resource_id = OLD.resource_id AND NEW.version = OLD.version
     AND NEW.data = OLD.data AND NEW.created_at = OLD.created_at
     AND NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.created_by) THEN
    RETURN NEW;
  END IF;
  RAISE EXCEPTION 'resource versions are immutable' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER resource_versions_immutable
  BEFORE UPDATE OR DELETE ON resource_versions
  FOR EACH ROW EXECUTE FUNCTION resource_versions_immutable();
CREATE FUNCTION resource_versions_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'resource versions are immutable' USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER resource_versions_no_truncate
  BEFORE TRUNCATE ON resource_versions
  FOR EACH STATEMENT EXECUTE FUNCTION resource_versions_no_truncate();

-- A share is a direct permission on one resource; it goes when the resource goes.
ALTER TABLE permissions ADD COLUMN resource_id uuid REFERENCES resources (id) ON DELETE CASCADE;
CREATE INDEX permissions_resource_id_idx ON permissions (resource_id) WHERE resource_id IS NOT NULL;

CREATE TABLE idempotency_keys (
  user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- Which operation the key was used for (e.g. "POST /resources"), so one key cannot replay
  -- another endpoint's answer.
  scope        text        NOT NULL CHECK (char_length(scope) <= 200),
  key          text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
  -- SHA-256 of the request, to tell a replay from a different request under the same key.
  request_hash bytea       NOT NULL CHECK (octet_length(request_hash) = 32),
  -- NULL while the first request is in flight.
  status       integer,
  response     jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, scope, key)
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);

-- migrate:down

DROP TABLE idempotency_keys;
DROP INDEX permissions_resource_id_idx;
ALTER TABLE permissions DROP COLUMN resource_id;
DROP TRIGGER resource_versions_no_truncate ON resource_versions;
DROP FUNCTION resource_versions_no_truncate();
DROP TRIGGER resource_versions_immutable ON resource_versions;
DROP FUNCTION resource_versions_immutable();
