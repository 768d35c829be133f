import type { Config } from '../core/config/index.js';
import type { Cache } from '../infra/cache/index.js';
import type { Database } from '../infra/database/index.js';
import { moduleLogger, type Logger } from '../infra/telemetry/logger.js';
import { createAudit } from '../services/auth/audit.js';
import { AuthService } from '../services/auth/auth.service.js';
import { LoginLimiter } from '../services/auth/login-limiter.js';
import { PasswordHasher } from '../services/auth/password.js';
import { Reauthentication } from '../services/auth/reauthentication.js';
import { GrantsStore } from '../services/auth/principals.js';
import { SessionStore } from '../services/auth/sessions.js';
import type { Identity } from '../services/identity.js';
import { storageUsage } from '../services/resources/quota.js';
import { GrantsService } from '../services/roles/grants.service.js';
import { RolesService } from '../services/roles/roles.service.js';
import type { Outbox } from '../services/shared/outbox.js';
import { TolerantCache } from '../services/shared/tolerant-cache.js';
import { UnitOfWork } from '../services/shared/unit-of-work.js';
import { UsersService } from '../services/users/users.service.js';

export interface IdentityDeps {
  database: Database;
  cache: Cache;
  auth: Config['auth'];
  quotas: Config['quotas'];
  logger: Logger;
  outbox: Outbox;
}

/**
 * Without a shared cache, instances that share a PostgreSQL database would each keep their
 * own copy of sessions and grants, and a revocation on one would not reach the others. Such
 * copies live for one second, so a revoked token fails everywhere within a second.
 */
const UNSHARED_CACHE_TTL_MS = 1000;
const NEAR_CACHE_TTL_MS = 500;

export function createIdentity(deps: IdentityDeps): Identity {
  const log = moduleLogger(deps.logger, 'auth');
  // With Redis, entries are also kept in the process for a moment: a warm request then costs
  // no round trip at all, and another instance acts on a revoked session for at most this long.
  const cache = new TolerantCache(deps.cache, log, deps.cache.kind === 'redis' ? { ttlMs: NEAR_CACHE_TTL_MS, maxEntries: 10_000 } : undefined);
  const shared = deps.cache.kind === 'redis' || deps.database.kind === 'pglite';
  const cacheTtlMs = shared ? deps.auth.cacheTtlMs : Math.min(deps.auth.cacheTtlMs, UNSHARED_CACHE_TTL_MS);
  const hasher = new PasswordHasher({ memoryKib: deps.auth.argon2MemoryKib, iterations: deps.auth.argon2Iterations, parallelism: 1 });
  const grants = new GrantsStore(deps.database, cache, cacheTtlMs);
  const work = new UnitOfWork({ database: deps.database, outbox: deps.outbox, cache, grants });
  const sessions = new SessionStore(
    deps.database,
    cache,
    { ttlMs: deps.auth.sessionTtlMs, idleTimeoutMs: deps.auth.sessionIdleTimeoutMs, cacheTtlMs },
    log,
    work,
  );
  const limiter = new LoginLimiter(
    deps.cache,
    {
      maxFailures: deps.auth.loginMaxFailures,
      maxFailuresPerAccount: deps.auth.loginMaxFailuresPerAccount,
      maxFailuresPerIp: deps.auth.loginMaxFailuresPerIp,
      windowMs: deps.auth.loginFailureWindowMs,
    },
    log,
  );
  const reauthentication = new Reauthentication(deps.database, hasher, limiter);
  const audit = createAudit(moduleLogger(deps.logger, 'audit'));
  const auth = new AuthService({
    database: deps.database,
    hasher,
    sessions,
    grants,
    limiter,
    reauthentication,
    audit,
    work,
    registration: deps.auth.registration,
    firstUserAdmin: deps.auth.firstUserAdmin,
    invitationTtlMs: deps.auth.invitationTtlMs,
    storageUsage: (userId) => storageUsage(deps.database.db, userId, deps.quotas.storageBytesPerUser),
  });
  return {
    auth,
    users: new UsersService({ database: deps.database, hasher, sessions, reauthentication, audit, work }),
    roles: new RolesService({ database: deps.database, audit, work }),
    userGrants: new GrantsService({ database: deps.database, audit, work }),
    hasher,
    grants,
    sessions,
    audit,
    outbox: deps.outbox,
    work,
  };
}
