-- Shares in a table of their own (issue 12 point 4). A share used to be one direct
-- permission per action on one resource: a user with thousands of shares carried thousands
-- of rules, compiled into every ability and OR-ed into every list query. A row per
-- (resource, user) lets the ability hold one rule per action and a list filter use one
-- semi-join, and lets the caps (resources.maxSharesPerResource, maxSharesPerUser) count rows.

-- migrate:up

CREATE TABLE resource_shares (
  resource_id uuid        NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
  user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- A set of share actions; read always comes with the others (the service adds it).
  actions     text[]      NOT NULL CHECK (cardinality(actions) BETWEEN 1 AND 3 AND actions <@ ARRAY['read', 'update', 'delete']::text[]),
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (resource_id, user_id)
);
-- The shares a user received: its grants, its list filter and the per-user cap.
CREATE INDEX resource_shares_user_id_idx ON resource_shares (user_id, resource_id);

-- Existing shares move over, one row per (resource, user) with its actions in order (each
-- action was granted once per pair). A
-- share with the resource's owner (possible before, and useless) is dropped.
INSERT INTO resource_shares (resource_id, user_id, actions, created_at)
SELECT p.resource_id, up.user_id,
       array_agg(p.action ORDER BY array_position(ARRAY['read', 'update', 'delete'], p.action)) FILTER (WHERE p.action IN ('read', 'update', 'delete')),
       min(p.created_at)
FROM permissions p
JOIN user_permissions up ON up.permission_id = p.id
JOIN resources r ON r.id = p.resource_id
WHERE p.resource_id IS NOT NULL AND up.user_id <> r.owner_id
GROUP BY p.resource_id, up.user_id
HAVING count(*) FILTER (WHERE p.action IN ('read', 'update', 'delete')) > 0;

-- The permissions that were shares go (their user_permissions rows cascade).
DELETE FROM permissions WHERE resource_id IS NOT NULL;
DROP INDEX permissions_resource_id_idx;
ALTER TABLE permissions DROP COLUMN resource_id;

-- migrate:down

ALTER TABLE permissions ADD COLUMN resource_id uuid REFERENCES resources (id) ON DELETE CASCADE;
CREATE INDEX permissions_resource_id_idx ON permissions (resource_id) WHERE resource_id IS NOT NULL;
-- Each share becomes one permission per action again, ids derived from the share so the
-- permission and its user link can be written in two statements.
CREATE TEMPORARY TABLE moved_shares AS
SELECT md5(s.resource_id::text || s.user_id::text || a.action)::uuid AS id, s.resource_id, s.user_id, a.action, r.type, s.created_at
FROM resource_shares s
JOIN resources r ON r.id = s.resource_id
CROSS JOIN LATERAL unnest(s.actions) AS a(action);
INSERT INTO permissions (id, resource_type, action, conditions, resource_id, created_at)
SELECT id, type, action, jsonb_build_object('id', resource_id::text), resource_id, created_at FROM moved_shares;
INSERT INTO user_permissions (user_id, permission_id) SELECT user_id, id FROM moved_shares;
DROP TABLE moved_shares;
DROP TABLE resource_shares;
