import { appError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import { can, SHARE_ACTIONS, type ShareAction } from '../access/index.js';
import { actor, type Audit } from '../auth/audit.js';
import type { Principal } from '../auth/principals.js';
import { signedIn, type ServiceContext } from '../context.js';
import { TOPIC } from '../events/catalog.js';
import { eventPayload, resourceRecord, type ResourceSummary, type Share } from '../resources/model.js';
import type { ResourceReads } from '../resources/reads.js';
import * as repo from '../resources/repository.js';
import type { Database } from '../../infra/database/index.js';
import type { UnitOfWork } from '../shared/unit-of-work.js';
import { FieldProblems, normaliseEmail, onlyFields } from '../shared/input.js';

export { SHARE_ACTIONS, type ShareAction };

export interface SharesDeps {
  database: Database;
  unitOfWork: UnitOfWork;
  reads: ResourceReads;
  audit: Audit;
  /** Users one resource may be shared with (resources.maxSharesPerResource). */
  maxSharesPerResource: number;
  /** Shares one user may receive (resources.maxSharesPerUser). */
  maxSharesPerUser: number;
}

/** Shares one user may receive of the resources of one owner: a tenth of `maxSharesPerUser` (at least 1). */
export const sharesPerOwnerAndUser = (maxSharesPerUser: number): number => Math.max(1, Math.floor(maxSharesPerUser / 10));

/**
 * Sharing a resource with another user (DESIGN §5 "Resources"): actions on that resource
 * alone, which the recipient's grants then carry (services/access/shares.ts). A share is a
 * change of the resource: it is made under the resource's row lock and has its event.
 */
export class SharesService {
  readonly #d: SharesDeps;

  constructor(deps: SharesDeps) {
    this.#d = deps;
  }

  /**
   * Shares a resource with another user for these actions (read always comes with them);
   * sharing again adds actions to the one share row, never takes any away (unsharing does).
   * The user is named by exactly one of `userId` and `email` (normalised as accounts are).
   * Only its owner, or whoever may manage it, shares it.
   * Refused: sharing with oneself or with the owner (400), an unknown userId (400) or email
   * (404), past `maxSharesPerResource` users of one resource, `maxSharesPerUser` shares
   * received by one user, or a tenth of that received from one owner (409, naming the cap).
   */
  async share(ctx: ServiceContext, rawId: string, input: Record<string, unknown>): Promise<Share> {
    const { principal: caller } = signedIn(ctx);
    const resource = await this.#d.reads.visible(caller, rawId, 'read');
    assertSharer(caller, resource);
    const problems = new FieldProblems();
    onlyFields(input, ['userId', 'email', 'actions'], problems);
    const by = recipientOf(input, problems);
    // A user id is judged at once, with every other problem of the request; an email only
    // once it has been looked up.
    const refused = by && 'userId' in by ? pointlessShare(by.userId, caller, resource) : undefined;
    if (refused) problems.add('userId', refused);
    const asked = Array.isArray(input.actions) ? input.actions : [];
    if (asked.length === 0 || !asked.every((a): a is ShareAction => SHARE_ACTIONS.includes(a as ShareAction))) {
      problems.add('actions', `must be a non-empty list of ${SHARE_ACTIONS.join(', ')}`);
    }
    // Changing or deleting what one cannot read is useless (every call is a 404): read comes with them.
    const wanted = SHARE_ACTIONS.filter((a) => a === 'read' || asked.includes(a));
    problems.throwIfAny(refused ? POINTLESS_SHARE : undefined);
    // Named, since no problem was found.
    const named = by!;
    const grantee = await this.#grantee(named);
    const refusedByEmail = 'email' in named ? pointlessShare(grantee.id, caller, resource) : undefined;
    if (refusedByEmail) throw appError('INVALID_INPUT', POINTLESS_SHARE, { errors: [{ field: 'email', message: refusedByEmail }] });
    const recipient = grantee.id;
    const actions = await this.#d.unitOfWork.run(ctx, async (tx, effects) => {
      // Under the resource's row lock, like every write of it: its events commit in order,
      // and the per-resource count cannot race. The recipient's count is serialised by a
      // lock of its own (shares of other resources with the same user).
      const locked = await repo.lockSummary(tx, resource.id);
      if (!locked) throw appError('NOT_FOUND', 'No such resource.');
      await repo.lockRecipient(tx, recipient);
      const existing = (await repo.sharesOf(tx, resource.id, recipient))[0];
      if (!existing) await this.#assertShareCaps(tx, resource.id, locked.ownerId, recipient);
      const actions = SHARE_ACTIONS.filter((a) => wanted.includes(a) || existing?.actions.includes(a));
      // Sharing what is already shared changes nothing, and says nothing.
      if (existing && actions.length === existing.actions.length) return actions;
      // Only a share that will be made costs the recipient its cached grants: a refused one
      // must not let anyone make another user's requests reload them. Before the commit, so
      // no request can cache the grants as they were once the share exists (a failing cache
      // fails the share with nothing written).
      await effects.invalidateGrantsNow([recipient]);
      await repo.upsertShare(tx, resource.id, recipient, actions);
      await effects.emit({ topic: TOPIC.resourceShared, payload: { ...eventPayload(locked, caller.user.id), userId: recipient, actions } });
      return actions;
    });
    this.#d.audit('resource.shared', { ...actor(caller), resourceId: resource.id, userId: recipient, actions });
    return { userId: recipient, name: grantee.name, actions };
  }

  /** Who the resource is shared with, oldest share first (owner or manager only). */
  async list(ctx: ServiceContext, rawId: string): Promise<Share[]> {
    const { principal: caller } = signedIn(ctx);
    const resource = await this.#d.reads.visible(caller, rawId, 'read');
    assertSharer(caller, resource);
    const rows = await repo.sharesWithGrantees(this.#d.database.db, resource.id);
    return rows.map((row) => ({ userId: row.user_id, name: row.name, actions: SHARE_ACTIONS.filter((a) => row.actions.includes(a)) }));
  }

  /**
   * Removes a share: its owner (or whoever may manage the resource) removes any, and the
   * recipient the one made to it (a recipient may not want what was shared).
   */
  async unshare(ctx: ServiceContext, rawId: string, rawUserId: string): Promise<void> {
    const { principal: caller } = signedIn(ctx);
    const resource = await this.#d.reads.visible(caller, rawId, 'read');
    const userId = canonicalId(rawUserId);
    if (userId !== caller.user.id) assertSharer(caller, resource);
    const held = userId ? await repo.sharesOf(this.#d.database.db, resource.id, userId) : [];
    if (!userId || held.length === 0) throw appError('NOT_FOUND', 'The resource is not shared with this user.');
    await this.#d.unitOfWork.run(ctx, async (tx, effects) => {
      // Access goes before the share does: no request may cache the grants that still hold it.
      await effects.invalidateGrantsNow([userId]);
      const locked = await repo.lockSummary(tx, resource.id);
      if (!locked) throw appError('NOT_FOUND', 'No such resource.');
      // A concurrent unshare already took it: one event for one change.
      if (!(await repo.deleteShare(tx, resource.id, userId))) return;
      await effects.emit({ topic: TOPIC.resourceUnshared, payload: { ...eventPayload(locked, caller.user.id), userId } });
    });
    this.#d.audit('resource.unshared', { ...actor(caller), resourceId: resource.id, userId });
  }

  /** The user a share names: an unknown id is a mistake in the request (400), an unknown email a user not found (404). */
  async #grantee(by: Recipient): Promise<repo.UserContact> {
    const db = this.#d.database.db;
    if ('userId' in by) {
      const user = await repo.userById(db, by.userId);
      if (!user) throw appError('INVALID_INPUT', 'userId must be an existing user.', { errors: [{ field: 'userId', message: 'is not a user' }] });
      return user;
    }
    const user = await repo.userByEmail(db, by.email);
    // The address is not repeated in the problem: problems are logged, and an address is personal data.
    if (!user) throw appError('NOT_FOUND', 'No user has this email address.');
    return user;
  }

  /**
   * CONFLICT naming the cap when one more share would pass any (a new share only). The cap
   * per owner and recipient keeps the per-recipient cap from being a weapon: without it one
   * member could fill a victim's `maxSharesPerUser` alone, and then nobody could share with
   * the victim. Derived from that cap (a tenth), so it needs no setting of its own.
   */
  async #assertShareCaps(tx: Database['db'], resourceId: string, ownerId: string, userId: string): Promise<void> {
    const { maxSharesPerResource, maxSharesPerUser } = this.#d;
    const counts = await repo.shareCounts(tx, resourceId, userId, ownerId);
    if (counts.ofResource >= maxSharesPerResource) {
      throw appError(
        'CONFLICT',
        `This resource is already shared with ${maxSharesPerResource} users, the most allowed (resources.maxSharesPerResource); remove a share first.`,
      );
    }
    if (counts.toUser >= maxSharesPerUser) {
      throw appError('CONFLICT', `This user has already received ${maxSharesPerUser} shares, the most allowed (resources.maxSharesPerUser).`);
    }
    const perOwner = sharesPerOwnerAndUser(maxSharesPerUser);
    if (counts.fromOwner >= perOwner) {
      throw appError(
        'CONFLICT',
        `This user has already received ${perOwner} shares of this owner's resources, the most allowed from one owner (a tenth of resources.maxSharesPerUser); remove a share first.`,
      );
    }
  }
}

/** How a share names its recipient. */
type Recipient = { userId: string } | { email: string };

const POINTLESS_SHARE = 'A resource cannot be shared with yourself or with its owner.';

/** The recipient named by exactly one of `userId` and `email`; undefined (with the problem added) otherwise. */
function recipientOf(input: Record<string, unknown>, problems: FieldProblems): Recipient | undefined {
  const byId = input.userId !== undefined;
  const byEmail = input.email !== undefined;
  if (byId === byEmail) {
    const message = byId ? 'name the user by userId or by email, not both' : 'is required: name the user by userId or by email';
    problems.add('userId', message);
    if (byEmail) problems.add('email', message);
    return undefined;
  }
  if (byEmail) {
    const email = normaliseEmail(input.email, 'email', problems);
    return { email };
  }
  const userId = typeof input.userId === 'string' ? canonicalId(input.userId) : undefined;
  if (!userId) {
    problems.add('userId', 'must be a user id');
    return undefined;
  }
  return { userId };
}

/**
 * Each share is state kept for its recipient: one with oneself (or the owner, who may do
 * everything already) grants nothing and only costs memory and list time.
 */
function pointlessShare(userId: string, caller: Principal, resource: ResourceSummary): string | undefined {
  if (userId === caller.user.id) return 'is you: a resource cannot be shared with oneself';
  if (userId === resource.ownerId) return 'is the owner of the resource, who needs no share';
  return undefined;
}

function assertSharer(caller: Principal, resource: ResourceSummary): void {
  if (resource.ownerId !== caller.user.id && !can(caller.ability, 'manage', 'resource', resourceRecord(resource))) {
    throw appError('FORBIDDEN', 'Only the owner or an administrator may share this resource.');
  }
}
