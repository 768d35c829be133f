import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { appError } from '../../core/errors.js';
import type { Database } from '../../infra/database/index.js';
import { buildAbility, sharedResources, type AppAbility, type SharedResources } from '../access/index.js';
import type { ClientInfo } from './client.js';
import { INVALIDATION_HOLD_MS, isInvalidated, type Invalidated, type TolerantCache } from '../shared/tolerant-cache.js';
import { permissionView, userView, type PermissionView, type RoleRef, type UserView } from '../shared/views.js';

/** Who a user is and what it may do: the cached part of a principal. */
export interface Grants {
  user: UserView;
  roles: RoleRef[];
  /** Direct permissions and those of its roles, each once. */
  permissions: PermissionView[];
  /** The resources shared with the user, by action (rows of `resource_shares`, not permissions). */
  shared: SharedResources;
  /** A hash of what the ability is built from (user id, permissions, shares): tells whether the user's compiled ability is current. */
  stamp: string;
}

/** The caller of a request, resolved once per request (DESIGN §2). */
export interface Principal {
  readonly user: UserView;
  readonly roles: RoleRef[];
  readonly permissions: PermissionView[];
  readonly ability: AppAbility;
  /** The session the request was made with. */
  readonly sessionId: string;
  /** Where the request comes from. */
  readonly client?: ClientInfo | undefined;
}

/** The principal, or UNAUTHORIZED for an anonymous caller. */
export function requireSignedIn(principal: Principal | undefined): Principal {
  if (!principal) throw appError('UNAUTHORIZED', 'Sign in first: send Authorization: Bearer <token>.', { headers: { 'www-authenticate': 'Bearer' } });
  return principal;
}

const grantsKey = (userId: string): string => `auth:principal:${userId}`;

/** Users whose compiled ability stays in memory; the least recently used go first. */
const MAX_COMPILED_ABILITIES = 10_000;

/**
 * Loads and caches grants per user, and compiles them into a CASL ability once per process
 * and grant change: abilities are shared by every request of that user, never copied.
 *
 * ONE live ability per user, keyed by user id and replaced when the grants' stamp changes:
 * keyed by stamp, every grant change of an active user (e.g. thousands of shares) left
 * another whole ability behind until the count bound, and the heap ran out first.
 */
export class GrantsStore {
  readonly #database: Database;
  readonly #cache: TolerantCache;
  readonly #cacheTtlMs: number;
  readonly #abilities = new LRUCache<string, { stamp: string; ability: AppAbility }>({ max: MAX_COMPILED_ABILITIES });

  constructor(database: Database, cache: TolerantCache, cacheTtlMs: number) {
    this.#database = database;
    this.#cache = cache;
    this.#cacheTtlMs = cacheTtlMs;
  }

  /** The user's grants; undefined when the user no longer exists. */
  async grants(userId: string): Promise<Grants | undefined> {
    const key = grantsKey(userId);
    const cached = await this.#cache.get<Grants | Invalidated>(key);
    if (cached && !isInvalidated(cached)) return cached;
    const loaded = await this.load(userId);
    // Just after an invalidation the marker holds the key: this read is served, not cached.
    if (loaded && !cached) await this.#cache.add(key, loaded, this.#cacheTtlMs);
    return loaded;
  }

  ability(grants: Grants): AppAbility {
    const compiled = this.#abilities.get(grants.user.id);
    if (compiled?.stamp === grants.stamp) return compiled.ability;
    const ability = buildAbility(grants.permissions, grants.user.id, grants.shared);
    this.#abilities.set(grants.user.id, { stamp: grants.stamp, ability });
    return ability;
  }

  /** Abilities compiled and kept on this instance: at most one per user (the `compiled_abilities` metric). */
  get compiledAbilities(): number {
    return this.#abilities.size;
  }

  /**
   * Forgets cached grants, so the next request of these users reloads them. Every instance
   * shares the cache; a load racing this call cannot cache what it read before the change.
   */
  async invalidate(userIds: readonly string[]): Promise<void> {
    await this.#cache.invalidate([...new Set(userIds)].map(grantsKey), INVALIDATION_HOLD_MS);
  }

  /** Grants changed elsewhere (an event says so): this instance's copies go. */
  async changedElsewhere(userIds: readonly string[]): Promise<void> {
    await this.#cache.forgetCopies(userIds.map(grantsKey), INVALIDATION_HOLD_MS);
  }

  /** Reads grants from the database (four indexed queries). */
  async load(userId: string): Promise<Grants | undefined> {
    const db = this.#database.db;
    const user = await db.selectFrom('users').select(['id', 'email', 'name', 'created_at', 'updated_at']).where('id', '=', userId).executeTakeFirst();
    if (!user) return undefined;
    const roles = await db
      .selectFrom('user_roles')
      .innerJoin('roles', 'roles.id', 'user_roles.role_id')
      .select(['roles.id', 'roles.name'])
      .where('user_roles.user_id', '=', userId)
      .orderBy('roles.name')
      .execute();
    const permissions = await db
      .selectFrom('permissions')
      .select(['id', 'resource_type', 'action', 'conditions'])
      .where((eb) =>
        eb.or([
          eb('id', 'in', eb.selectFrom('user_permissions').select('permission_id').where('user_id', '=', userId)),
          eb(
            'id',
            'in',
            eb
              .selectFrom('role_permissions')
              .innerJoin('user_roles', 'user_roles.role_id', 'role_permissions.role_id')
              .select('role_permissions.permission_id')
              .where('user_roles.user_id', '=', userId),
          ),
        ]),
      )
      .orderBy('id')
      .execute();
    // Bounded by resources.maxSharesPerUser.
    const shares = await db.selectFrom('resource_shares').select(['resource_id', 'actions']).where('user_id', '=', userId).execute();
    const shared = sharedResources(shares);
    const views = permissions.map(permissionView);
    return {
      user: userView(user),
      roles: roles.map((r) => ({ id: r.id, name: r.name })),
      permissions: views,
      shared,
      // What the ability is built from, hashed: grants reloaded unchanged keep their ability
      // (and whoever compares abilities sees no change).
      stamp: createHash('sha256')
        .update(JSON.stringify([userId, views, shared]))
        .digest('base64url'),
    };
  }
}
