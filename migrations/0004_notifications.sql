-- Notifications: replay windows over the outbox and the notifications, email opt-ins, and
-- the bookkeeping that sends each notification's email once.

-- migrate:up

-- A number in commit order per aggregate: a resource's events are written under its row
-- lock, so for one resource a larger seq was committed later (UUIDv7 ids are made from
-- clocks, before commits, so they do not say that). resourceChanged(id, after:) replays by it.
-- Rows already there are numbered in id order (an identity added at once would number them
-- in storage order), then the identity carries on after them.
ALTER TABLE outbox ADD COLUMN seq bigint;
UPDATE outbox SET seq = numbered.n FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM outbox) AS numbered WHERE outbox.id = numbered.id;
ALTER TABLE outbox ALTER COLUMN seq SET NOT NULL;
ALTER TABLE outbox ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('outbox', 'seq'), coalesce(max(seq), 0) + 1, false) FROM outbox;
CREATE INDEX outbox_aggregate_seq_idx ON outbox (aggregate_id, seq);
-- The relay takes unpublished rows in that order.
DROP INDEX outbox_unpublished_idx;
CREATE INDEX outbox_unpublished_seq_idx ON outbox (seq) WHERE published_at IS NULL;

-- A notification's email: claimed by the consumer sending it (a redelivered event finds it
-- claimed and waits; a claim older than a minute, of a consumer that crashed, is taken over),
-- then marked sent, so it is sent once however often its event is delivered.
ALTER TABLE notifications ADD COLUMN email_claimed_at timestamptz;
ALTER TABLE notifications ADD COLUMN emailed_at timestamptz;
-- Notifications are pruned by age, read or not.
CREATE INDEX notifications_created_at_idx ON notifications (created_at);
-- Commit order per user (a user's notifications are written under its row lock), for
-- notificationReceived(after:).
ALTER TABLE notifications ADD COLUMN seq bigint;
UPDATE notifications SET seq = numbered.n FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM notifications) AS numbered WHERE notifications.id = numbered.id;
ALTER TABLE notifications ALTER COLUMN seq SET NOT NULL;
ALTER TABLE notifications ALTER COLUMN seq ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('notifications', 'seq'), coalesce(max(seq), 0) + 1, false) FROM notifications;
CREATE INDEX notifications_user_seq_idx ON notifications (user_id, seq);

-- The kinds of notification a user also wants by email (absent: in-app only).
CREATE TABLE notification_preferences (
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  kind    text NOT NULL CHECK (char_length(kind) BETWEEN 1 AND 100),
  email   boolean NOT NULL DEFAULT false,
  PRIMARY KEY (user_id, kind)
);

-- migrate:down

DROP TABLE notification_preferences;
DROP INDEX notifications_user_seq_idx;
ALTER TABLE notifications DROP COLUMN seq;
DROP INDEX notifications_created_at_idx;
ALTER TABLE notifications DROP COLUMN emailed_at;
ALTER TABLE notifications DROP COLUMN email_claimed_at;
DROP INDEX outbox_unpublished_seq_idx;
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;
DROP INDEX outbox_aggregate_seq_idx;
ALTER TABLE outbox DROP COLUMN seq;
