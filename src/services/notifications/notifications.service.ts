import { sql } from 'kysely';
import { appError } from '../../core/errors.js';
import { canonicalId, newId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { MailError, type Mailer } from '../../infra/mail/port.js';
import type { QueueEvent } from '../../infra/queue/port.js';
import type { Logger } from '../../infra/telemetry/logger.js';
import { signedIn, type ServiceContext } from '../context.js';
import { TOPIC, type NotificationCreatedPayload, type NotificationView } from '../events/catalog.js';
import { catalogEvent } from '../events/subscribe.js';
import type { UnitOfWork } from '../shared/unit-of-work.js';
import { pageBounds, toPage, type Page, type PageRequest } from '../shared/pagination.js';
import { iso } from '../shared/views.js';
import { FieldProblems, onlyFields } from '../shared/input.js';
import { describe, isNotificationKind, NOTIFICATION_KINDS, recipientsOf, type NotificationKind, type Recipient } from './kinds.js';

type Db = Database['db'];

export type { NotificationCreatedPayload, NotificationView };

/** Where a notificationReceived subscription starts (see `startingPoint`). */
export interface NotificationsSince {
  /** The notifications missed, oldest first. */
  items: NotificationView[];
  /** False when what was missed cannot be told: the client should refetch its list. */
  complete: boolean;
  /** The seq of the newest notification the subscriber then has (or reads when it refetches). */
  through: number;
}

export interface NotificationPreferences {
  /** The kinds also sent by email. */
  email: NotificationKind[];
}

export interface NotificationsDeps {
  database: Database;
  work: UnitOfWork;
  mailer: Mailer;
  retentionMs: number;
  log: Logger;
}

interface NotificationRow {
  id: string;
  kind: string;
  payload: Record<string, unknown>;
  read_at: Date | null;
  created_at: Date;
}

const COLUMNS = ['id', 'kind', 'payload', 'read_at', 'created_at'] as const;

const view = (row: NotificationRow): NotificationView => ({
  id: row.id,
  kind: row.kind as NotificationKind,
  payload: row.payload,
  read: row.read_at !== null,
  readAt: row.read_at ? iso(row.read_at) : null,
  createdAt: iso(row.created_at),
});

const notFound = () => appError('NOT_FOUND', 'No such notification.');

/** A claim to send a notification's email older than this is a crashed consumer's: taken over. */
const EMAIL_CLAIM_SECONDS = 60;

/**
 * Per-user notifications (DESIGN §5 "Notifications"): made from domain events by a queue
 * consumer, stored once per user and event (a redelivered event adds nothing), listed and
 * marked read by their user only, sent by email for the kinds a user opted into, and
 * pruned after the retention period.
 */
export class NotificationsService {
  readonly #d: NotificationsDeps;

  constructor(deps: NotificationsDeps) {
    this.#d = deps;
  }

  /** The caller's notifications, newest first. */
  async list(ctx: ServiceContext, options: PageRequest & { unread?: boolean | undefined }): Promise<Page<NotificationView>> {
    const caller = signedIn(ctx).principal;
    const { limit, after } = pageBounds(options);
    let query = this.#d.database.db
      .selectFrom('notifications')
      .select(COLUMNS)
      .where('user_id', '=', caller.user.id)
      .orderBy('id', 'desc')
      .limit(limit + 1);
    if (options.unread) query = query.where('read_at', 'is', null);
    if (after) query = query.where('id', '<', after);
    return toPage(await query.execute(), limit, view);
  }

  async unreadCount(ctx: ServiceContext): Promise<number> {
    const caller = signedIn(ctx).principal;
    const row = await this.#d.database.db
      .selectFrom('notifications')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('user_id', '=', caller.user.id)
      .where('read_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Marks one of the caller's notifications read (idempotent); NOT_FOUND for anyone else's. */
  async markRead(ctx: ServiceContext, rawId: string): Promise<NotificationView> {
    const caller = signedIn(ctx).principal;
    const id = canonicalId(rawId);
    if (!id) throw notFound();
    const row = await this.#d.database.db
      .updateTable('notifications')
      .set({ read_at: sql<Date>`coalesce(read_at, now())` })
      .where('id', '=', id)
      .where('user_id', '=', caller.user.id)
      .returning(COLUMNS)
      .executeTakeFirst();
    if (!row) throw notFound();
    return view(row);
  }

  /** Marks every unread notification of the caller read; resolves with how many. */
  async markAllRead(ctx: ServiceContext): Promise<number> {
    const caller = signedIn(ctx).principal;
    const result = await this.#d.database.db
      .updateTable('notifications')
      .set({ read_at: sql<Date>`now()` })
      .where('user_id', '=', caller.user.id)
      .where('read_at', 'is', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async preferences(ctx: ServiceContext): Promise<NotificationPreferences> {
    const caller = signedIn(ctx).principal;
    const rows = await this.#d.database.db
      .selectFrom('notification_preferences')
      .select('kind')
      .where('user_id', '=', caller.user.id)
      .where('email', '=', true)
      .execute();
    const chosen = new Set(rows.map((r) => r.kind));
    return { email: NOTIFICATION_KINDS.filter((k) => chosen.has(k)) };
  }

  /** Replaces the caller's email opt-ins: `{ email: [kind, …] }` (an empty list opts out of all). */
  async setPreferences(ctx: ServiceContext, input: Record<string, unknown>): Promise<NotificationPreferences> {
    const caller = signedIn(ctx).principal;
    const problems = new FieldProblems();
    onlyFields(input, ['email'], problems);
    const email = input.email;
    if (!Array.isArray(email) || email.length > NOTIFICATION_KINDS.length * 2 || !email.every(isNotificationKind)) {
      problems.add('email', `must be a list of notification kinds: ${NOTIFICATION_KINDS.join(', ')}`);
    }
    problems.throwIfAny();
    const kinds = [...new Set(email as NotificationKind[])];
    await this.#d.work.run(ctx, async (tx) => {
      await tx.deleteFrom('notification_preferences').where('user_id', '=', caller.user.id).execute();
      if (kinds.length > 0)
        await tx
          .insertInto('notification_preferences')
          .values(kinds.map((kind) => ({ user_id: caller.user.id, kind, email: true })))
          .execute();
    });
    return { email: NOTIFICATION_KINDS.filter((k) => kinds.includes(k)) };
  }

  /**
   * The consumer of domain events: stores the notifications an event gives rise to, with a
   * `notification.created` event each (same transaction) that carries it to its user's live
   * subscribers on every instance. Redelivery is harmless: (user, event) is unique.
   */
  async record(ctx: ServiceContext, event: QueueEvent): Promise<number> {
    const recipients = recipientsOf(event);
    if (recipients.length === 0) return 0;
    const people = [...new Set(recipients.flatMap((r) => [r.userId, ...(r.payload.actorId ? [r.payload.actorId] : [])]))];
    const created = await this.#d.work.run(ctx, async (tx, { emit }) => {
      // Each recipient's notifications are written under its row lock (taken in id order, so
      // two consumers cannot deadlock): their seq then follows their commit order, which
      // notificationReceived(after:) relies on. A user deleted since the event is skipped.
      const recipientIds = [...new Set(recipients.map((r) => r.userId))].sort();
      const locked = new Set(
        (await tx.selectFrom('users').select('id').where('id', 'in', recipientIds).orderBy('id').forNoKeyUpdate().execute()).map((u) => u.id),
      );
      const users = new Map((await tx.selectFrom('users').select(['id', 'name']).where('id', 'in', people).execute()).map((u) => [u.id, u.name]));
      const waiting = await unreadShareNews(tx, recipients);
      const rows = recipients
        .filter((r) => locked.has(r.userId) && !waiting.has(shareNewsKey(r.userId, r.payload)))
        .map((r) => ({
          id: newId(),
          user_id: r.userId,
          kind: r.kind,
          payload: JSON.stringify(r.payload.actorId ? { ...r.payload, actorName: users.get(r.payload.actorId) ?? null } : r.payload),
          event_id: event.id,
        }));
      if (rows.length === 0) return [];
      const inserted = await tx
        .insertInto('notifications')
        .values(rows)
        .onConflict((oc) => oc.columns(['user_id', 'event_id']).doNothing())
        .returning(['user_id', 'seq', ...COLUMNS])
        .execute();
      await emit(
        inserted.map((row) => ({ topic: TOPIC.notificationCreated, payload: { userId: row.user_id, seq: Number(row.seq), notification: view(row) } })),
      );
      return inserted;
    });
    return created.length;
  }

  /**
   * The consumer of `notification.created` for email: sends it when its user opted in for
   * its kind, once. The notification is claimed first and marked sent after; a redelivered
   * event finds it sent (nothing to do) or claimed by a consumer still at work (it rejects,
   * so the queue offers it again later). A failed send releases the claim and rejects; a
   * consumer that crashed mid-send leaves a claim that is taken over after a minute.
   */
  async deliverEmail(ctx: ServiceContext, queued: QueueEvent): Promise<boolean> {
    const event = catalogEvent(queued);
    if (event.topic !== TOPIC.notificationCreated || this.#d.mailer.kind === 'disabled') return false;
    const { userId, notification } = event.payload;
    const db = this.#d.database.db;
    const wanted = await db
      .selectFrom('notification_preferences')
      .innerJoin('users', 'users.id', 'notification_preferences.user_id')
      .select('users.email')
      .where('notification_preferences.user_id', '=', userId)
      .where('notification_preferences.kind', '=', notification.kind)
      .where('notification_preferences.email', '=', true)
      .executeTakeFirst();
    if (!wanted) return false;
    // A value of ours, in milliseconds, which reads back exactly (now() has microseconds).
    const claimedAt = new Date();
    const claimed = await db
      .updateTable('notifications')
      .set({ email_claimed_at: claimedAt })
      .where('id', '=', notification.id)
      .where('emailed_at', 'is', null)
      .where((eb) => eb.or([eb('email_claimed_at', 'is', null), eb('email_claimed_at', '<', sql<Date>`now() - make_interval(secs => ${EMAIL_CLAIM_SECONDS})`)]))
      .returning('id')
      .executeTakeFirst();
    if (!claimed) {
      const row = await db.selectFrom('notifications').select('emailed_at').where('id', '=', notification.id).executeTakeFirst();
      // Sent already, or the notification is gone (pruned, its user deleted): done.
      if (!row || row.emailed_at) return false;
      throw new Error('the notification email is being sent by another consumer');
    }
    // Marked and released only while the claim is still this consumer's (a slow send may
    // have been taken over meanwhile).
    try {
      await this.#d.mailer.send({ to: wanted.email, ...describe(notification.kind, notification.payload, userId) });
    } catch (err) {
      // A refusal that would only repeat (an invalid address, mail rejected) is not retried.
      if (err instanceof MailError && err.permanent) {
        ctx.log.warn({ err, notificationId: notification.id, kind: notification.kind }, 'notification email refused by the mail server; not retried');
        return false;
      }
      await db
        .updateTable('notifications')
        .set({ email_claimed_at: null })
        .where('id', '=', notification.id)
        .where('email_claimed_at', '=', claimedAt)
        .execute();
      ctx.log.warn({ err, notificationId: notification.id, kind: notification.kind }, 'notification email not sent; it will be retried');
      throw err;
    }
    // Sent: a failure to record it now is retried by the queue, which finds the claim held
    // (and waits) rather than free (and sends again), until the claim expires.
    await db
      .updateTable('notifications')
      .set({ emailed_at: sql<Date>`now()` })
      .where('id', '=', notification.id)
      .where('email_claimed_at', '=', claimedAt)
      .execute();
    return true;
  }

  /**
   * Where a user's notificationReceived subscription starts. Without `after`, at its newest
   * notification, with nothing to replay. With it (the id of the last notification received),
   * the notifications since, oldest first, at most `max`; or, when that cannot be told (an
   * unknown or pruned notification, or more than `max` since), incomplete at the newest.
   */
  async startingPoint(userId: string, rawAfter: string | undefined, max: number): Promise<NotificationsSince> {
    const db = this.#d.database.db;
    const newest = async (complete: boolean): Promise<NotificationsSince> => {
      const row = await db.selectFrom('notifications').select('seq').where('user_id', '=', userId).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      return { items: [], complete, through: Number(row?.seq ?? 0) };
    };
    if (rawAfter === undefined) return newest(true);
    const after = canonicalId(rawAfter);
    const known = after
      ? await db.selectFrom('notifications').select('seq').where('id', '=', after).where('user_id', '=', userId).executeTakeFirst()
      : undefined;
    if (!known) return newest(false);
    const rows = await db
      .selectFrom('notifications')
      .select(['seq', ...COLUMNS])
      .where('user_id', '=', userId)
      .where('seq', '>', known.seq)
      .orderBy('seq')
      .limit(max + 1)
      .execute();
    if (rows.length > max) return newest(false);
    return { items: rows.map(view), complete: true, through: Number(rows.at(-1)?.seq ?? known.seq) };
  }

  /** Deletes notifications older than the retention; resolves with how many. */
  async prune(): Promise<number> {
    const cutoff = new Date(Date.now() - this.#d.retentionMs);
    const result = await this.#d.database.db.deleteFrom('notifications').where('created_at', '<', cutoff).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

const SHARE_KINDS: readonly NotificationKind[] = ['resource.shared', 'resource.unshared'];

function shareNewsKey(userId: string, payload: { resourceId?: unknown; actorId?: unknown }): string {
  return `${userId} ${String(payload.resourceId)} ${String(payload.actorId)}`;
}

/**
 * The recipients that already have an unread share or unshare notification about the same
 * resource from the same person: they are not told again. Sharing and unsharing in a loop
 * would otherwise put one notification (and, for whoever opted in, one email of the sharer's
 * choosing) per request into any account whose email address is known. The one waiting still
 * leads to the resource, whose page shows how things stand now. Read under the recipients' row
 * locks, so two consumers cannot both find none.
 */
async function unreadShareNews(tx: Db, recipients: Recipient[]): Promise<Set<string>> {
  const about = recipients.filter((r) => SHARE_KINDS.includes(r.kind) && typeof r.payload.resourceId === 'string');
  if (about.length === 0) return new Set();
  const rows = await tx
    .selectFrom('notifications')
    .select(['user_id', sql<string>`payload->>'resourceId'`.as('resource_id'), sql<string>`payload->>'actorId'`.as('actor_id')])
    .where('user_id', 'in', [...new Set(about.map((r) => r.userId))])
    .where('read_at', 'is', null)
    .where('kind', 'in', SHARE_KINDS)
    .where(sql<string>`payload->>'resourceId'`, 'in', [...new Set(about.map((r) => r.payload.resourceId as string))])
    .execute();
  return new Set(rows.map((row) => shareNewsKey(row.user_id, { resourceId: row.resource_id, actorId: row.actor_id })));
}
