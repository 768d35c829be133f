-- Identity and access control: built-in roles with their permissions, session client
-- details, and invitations for invite-only registration. Seeded ids are fixed UUIDv7-shaped
-- constants so every installation agrees on them.

-- migrate:up

-- Built-in roles (admin, member) cannot be renamed or deleted.
ALTER TABLE roles ADD COLUMN builtin boolean NOT NULL DEFAULT false;

-- Shown to the user when listing its sessions, so it can tell them apart.
ALTER TABLE sessions ADD COLUMN user_agent text CHECK (char_length(user_agent) <= 512);
ALTER TABLE sessions ADD COLUMN ip text CHECK (char_length(ip) <= 64);

INSERT INTO roles (id, name, description, builtin) VALUES
  ('00000000-0000-7000-8000-000000000001', 'admin', 'Manages everything', true),
  ('00000000-0000-7000-8000-000000000002', 'member', 'Creates resources and manages its own; reads and updates its own user', true);

INSERT INTO permissions (id, resource_type, action, conditions) VALUES
  ('00000000-0000-7000-8000-000000000101', '*', 'manage', NULL),
  ('00000000-0000-7000-8000-000000000102', 'user', 'manage', NULL),
  ('00000000-0000-7000-8000-000000000103', 'role', 'manage', NULL),
  ('00000000-0000-7000-8000-000000000201', '*', 'create', NULL),
  ('00000000-0000-7000-8000-000000000202', '*', 'read', '{"ownerId": "${user.id}"}'),
  ('00000000-0000-7000-8000-000000000203', '*', 'update', '{"ownerId": "${user.id}"}'),
  ('00000000-0000-7000-8000-000000000204', '*', 'delete', '{"ownerId": "${user.id}"}'),
  ('00000000-0000-7000-8000-000000000205', 'user', 'read', '{"id": "${user.id}"}'),
  ('00000000-0000-7000-8000-000000000206', 'user', 'update', '{"id": "${user.id}"}');

INSERT INTO role_permissions (role_id, permission_id) VALUES
  ('00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000101'),
  ('00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000102'),
  ('00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000103'),
  ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000201'),
  ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000202'),
  ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000203'),
  ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000204'),
  ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000205'),
  ('00000000-0000-7000-8000-000000000002', '00000000-0000-7000-8000-000000000206');

CREATE TABLE invitations (
  id          uuid        PRIMARY KEY,
  email       text        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 320),
  -- SHA-256 of the invitation token, like session tokens.
  token       bytea       NOT NULL UNIQUE CHECK (octet_length(token) = 32),
  invited_by  uuid        REFERENCES users (id) ON DELETE SET NULL,
  expires_at  timestamptz NOT NULL,
  accepted_at timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invitations_email_idx ON invitations (lower(email));

-- migrate:down

DROP TABLE invitations;
DELETE FROM permissions WHERE id IN (
  '00000000-0000-7000-8000-000000000101', '00000000-0000-7000-8000-000000000102', '00000000-0000-7000-8000-000000000103',
  '00000000-0000-7000-8000-000000000201', '00000000-0000-7000-8000-000000000202', '00000000-0000-7000-8000-000000000203',
  '00000000-0000-7000-8000-000000000204', '00000000-0000-7000-8000-000000000205', '00000000-0000-7000-8000-000000000206');
DELETE FROM roles WHERE id IN ('00000000-0000-7000-8000-000000000001', '00000000-0000-7000-8000-000000000002');
ALTER TABLE sessions DROP COLUMN ip;
ALTER TABLE sessions DROP COLUMN user_agent;
ALTER TABLE roles DROP COLUMN builtin;
