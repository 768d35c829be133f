import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { newId } from '../../src/core/ids.js';
import { MemoryCache } from '../../src/infra/cache/index.js';
import { createDatabase, type Database } from '../../src/infra/database/index.js';
import { createMailer } from '../../src/infra/mail/index.js';
import type { Mailer } from '../../src/infra/mail/port.js';
import type { QueueEvent } from '../../src/infra/queue/port.js';
import { createLogger } from '../../src/infra/telemetry/logger.js';
import { PasswordHasher } from '../../src/services/auth/password.js';
import { TOPIC, type ResourceEventPayload } from '../../src/services/events/catalog.js';
import { LiveEvents } from '../../src/services/realtime/live.js';
import { NotificationsService, type NotificationCreatedPayload } from '../../src/services/notifications/notifications.service.js';
import { Outbox } from '../../src/services/shared/outbox.js';
import { TolerantCache } from '../../src/services/shared/tolerant-cache.js';
import { UnitOfWork } from '../../src/services/shared/unit-of-work.js';
import { systemContext } from '../../src/services/context.js';
import type { Principal } from '../../src/services/auth/principals.js';
import { createAccount } from '../../src/services/auth/accounts.js';
import { createTestDatabase, DATABASE_KINDS, type TestDatabase } from '../support/databases.js';
import { startSmtpServer, type SmtpTestServer } from '../support/smtp.js';

/**
 * The consumers of domain events against a real database: delivery is at least once, so an
 * event handled twice (a relay that published twice, a redelivery) must make one
 * notification, one notification.created event and one email.
 */
const silent = createLogger({ level: 'silent' });
const ctx = systemContext(silent);
const hasher = new PasswordHasher({ memoryKib: 19_456, iterations: 2, parallelism: 1 });

for (const kind of DATABASE_KINDS) {
  describe(`notification consumers (${kind})`, () => {
    let testDb: TestDatabase;
    let database: Database;
    let smtp: SmtpTestServer;
    let mailer: Mailer;
    let service: NotificationsService;
    let owner: { id: string; email: string };
    let editor: { id: string; email: string };

    const updatedBy = (actorId: string, ownerId: string): QueueEvent => {
      const payload: ResourceEventPayload = {
        id: newId(),
        ownerId,
        name: 'Doc',
        type: 'doc',
        createdAt: new Date().toISOString(),
        metadata: {},
        version: 2,
        actorId,
      };
      return { id: newId(), seq: 1, topic: TOPIC.resourceUpdated, payload };
    };
    const notificationsOf = (userId: string) => database.db.selectFrom('notifications').selectAll().where('user_id', '=', userId).orderBy('id').execute();
    const createdEvents = async (userId: string): Promise<QueueEvent[]> =>
      (
        await database.db
          .selectFrom('outbox')
          .select(['id', 'seq', 'topic', 'payload'])
          .where('topic', '=', TOPIC.notificationCreated)
          .where('aggregate_id', '=', userId)
          .orderBy('seq')
          .execute()
      ).map((row) => ({ ...row, seq: Number(row.seq) }));

    before(async () => {
      testDb = await createTestDatabase(kind);
      database = createDatabase(testDb.options, silent);
      smtp = await startSmtpServer();
      mailer = createMailer({ smtpUrl: smtp.url, from: 'PCF <pcf@example.test>' }, silent);
      const outbox = new Outbox();
      const grants = { invalidate: async () => undefined };
      const work = new UnitOfWork({ database, outbox, cache: new TolerantCache(new MemoryCache({ maxEntries: 100, defaultTtlMs: 60_000 }), silent), grants });
      service = new NotificationsService({ database, work, mailer, retentionMs: 3_600_000, log: silent });
      owner = await createAccount(database, hasher, { email: 'owner@consumers.example', name: 'Owner', password: 'owner long passphrase' });
      editor = await createAccount(database, hasher, { email: 'editor@consumers.example', name: 'Editor', password: 'editor long passphrase' });
    });
    after(async () => {
      await mailer.close();
      await smtp.close();
      await database.close();
      await testDb.drop();
    });

    it('stores one notification per user and event, however often the event is handled', async () => {
      const event = updatedBy(editor.id, owner.id);
      const before = (await notificationsOf(owner.id)).length;
      assert.equal(await service.record(ctx, event), 1);
      assert.equal(await service.record(ctx, event), 0, 'the second delivery adds nothing');
      await Promise.all([service.record(ctx, event), service.record(ctx, event)]);
      const stored = (await notificationsOf(owner.id)).filter((n) => n.event_id === event.id);
      assert.equal(stored.length, 1);
      assert.equal((await notificationsOf(owner.id)).length, before + 1);
      assert.equal(stored[0]!.kind, 'resource.updated');
      assert.equal((stored[0]!.payload as { actorName?: string }).actorName, 'Editor');
      const created = (await createdEvents(owner.id)).filter((e) => (e.payload as NotificationCreatedPayload).notification.id === stored[0]!.id);
      assert.equal(created.length, 1, 'one notification.created event');
      // The editor is not told of its own change; nobody is told of an owner's own change.
      assert.equal((await notificationsOf(editor.id)).length, 0);
      assert.equal(await service.record(ctx, updatedBy(owner.id, owner.id)), 0);
    });

    it('tells nobody about a user deleted since the event', async () => {
      assert.equal(await service.record(ctx, updatedBy(editor.id, newId())), 0);
    });

    it('emails a notification once to a user who opted in, retries after a temporary failure, and not for other kinds', async () => {
      const principal = { ...ctx, principal: { user: { id: owner.id } } as Principal };
      await service.setPreferences(principal, { email: ['resource.updated'] });
      await service.record(ctx, updatedBy(editor.id, owner.id));
      const [event] = (await createdEvents(owner.id)).slice(-1);
      smtp.failNext(1);
      await assert.rejects(service.deliverEmail(ctx, event!), 'a 451 rejects, so the queue offers it again');
      assert.equal(smtp.messages.length, 0);
      assert.equal(await service.deliverEmail(ctx, event!), true);
      assert.equal(await service.deliverEmail(ctx, event!), false, 'a redelivery sends nothing');
      const mail = await smtp.waitFor((m) => m.to.includes('owner@consumers.example'));
      assert.match(mail.subject, /Editor changed "Doc"/);
      assert.equal(smtp.messages.length, 1);

      // A consumer still sending: the redelivery waits (rejects); one that crashed a while ago: taken over.
      await service.record(ctx, updatedBy(editor.id, owner.id));
      const [pending] = (await createdEvents(owner.id)).slice(-1);
      const pendingId = (pending!.payload as NotificationCreatedPayload).notification.id;
      await database.db.updateTable('notifications').set({ email_claimed_at: new Date() }).where('id', '=', pendingId).execute();
      await assert.rejects(service.deliverEmail(ctx, pending!), /being sent by another consumer/);
      await database.db
        .updateTable('notifications')
        .set({ email_claimed_at: new Date(Date.now() - 120_000) })
        .where('id', '=', pendingId)
        .execute();
      assert.equal(await service.deliverEmail(ctx, pending!), true);
      await smtp.waitFor(() => smtp.messages.length === 2);
      assert.equal(await service.deliverEmail(ctx, pending!), false, 'sent once');

      await service.setPreferences(principal, { email: [] });
      await service.record(ctx, updatedBy(editor.id, owner.id));
      const [later] = (await createdEvents(owner.id)).slice(-1);
      assert.equal(await service.deliverEmail(ctx, later!), false, 'opted out');
      assert.equal(smtp.messages.length, 2);
    });

    it('prunes notifications older than the retention, read or not, and keeps the newer ones', async () => {
      const principal = { ...ctx, principal: { user: { id: owner.id } } as Principal };
      const recorded: string[] = [];
      for (let i = 0; i < 5; i++) {
        const event = updatedBy(editor.id, owner.id);
        assert.equal(await service.record(ctx, event), 1);
        recorded.push((await notificationsOf(owner.id)).find((n) => n.event_id === event.id)!.id);
      }
      const [oldRead, oldUnread, pastRetention, withinRetention, fresh] = recorded as [string, string, string, string, string];
      await service.markRead(principal, oldRead);
      await service.markRead(principal, withinRetention);
      const HOUR = 3_600_000; // the service's retention
      // By this process's clock, as prune() reckons the cutoff (created_at is never written through Kysely).
      const age = (id: string, ms: number) =>
        sql`UPDATE notifications SET created_at = ${new Date(Date.now() - ms).toISOString()}::timestamptz WHERE id = ${id}`.execute(database.db);
      await age(oldRead, 30 * 24 * HOUR);
      await age(oldUnread, 2 * HOUR);
      await age(pastRetention, HOUR + 60_000);
      await age(withinRetention, HOUR - 60_000);
      const everyone = async () => (await database.db.selectFrom('notifications').select('id').orderBy('id').execute()).map((n) => n.id);
      const before = await everyone();

      assert.equal(await service.prune(), 3);
      const gone = [oldRead, oldUnread, pastRetention];
      assert.deepEqual(
        await everyone(),
        before.filter((id) => !gone.includes(id)),
        'exactly the three past the retention are gone, read or unread; every other notification stays',
      );
      const kept = (await notificationsOf(owner.id)).filter((n) => recorded.includes(n.id));
      assert.deepEqual(
        kept.map((n) => [n.id, n.read_at !== null]),
        [
          [withinRetention, true],
          [fresh, false],
        ],
      );
      assert.equal(await service.prune(), 0, 'nothing more to prune');
    });

    it('dispatches a live event once to the feeds watching it, even when delivered twice', async () => {
      const live = new LiveEvents();
      const subscriber = newId();
      const watched = newId();
      const feed = live.watchResource(watched, subscriber);
      const other = live.watchResource(newId(), subscriber);
      const event: QueueEvent = { id: newId(), seq: 1, topic: TOPIC.resourceUpdated, payload: { id: watched } };
      live.dispatch(event);
      live.dispatch(event);
      const first = await feed.next();
      assert.equal((first.value as QueueEvent).id, event.id);
      const pending = await Promise.race([feed.next(), new Promise((resolve) => setTimeout(() => resolve('nothing more'), 50))]);
      assert.equal(pending, 'nothing more');
      assert.equal(live.size, 2);
      other.close();
      feed.close();
      assert.equal(live.size, 0);
    });

    it('ends a feed that falls 1,000 events behind with an overflow signal, without holding others up', async () => {
      const live = new LiveEvents();
      const subscriber = newId();
      const id = newId();
      const stalled = live.watchResource(id, subscriber);
      const reader = live.watchResource(id, newId());
      for (let i = 0; i < 1001; i++) {
        live.dispatch({ id: newId(), seq: i + 1, topic: TOPIC.resourceUpdated, payload: { id } });
        // The reader keeps up; the stalled one never reads.
        assert.ok(!(await reader.next()).done);
      }
      assert.deepEqual((await stalled.next()).value, { signal: 'overflow' });
      assert.equal((await stalled.next()).done, true);
      assert.equal(live.size, 1, 'the stalled feed is gone; the reader stays');
      reader.close();
    });
  });
}
