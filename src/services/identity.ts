import type { Config } from '../core/config/index.js';
import type { Cache } from '../infra/cache/index.js';
import type { Database } from '../infra/database/index.js';
import { moduleLogger, type Logger } from '../infra/telemetry/logger.js';
import { createAudit, type Audit } from './auth/audit.js';
import { AuthService } from './auth/auth.service.js';
import { LoginLimiter } from './auth/login-limiter.js';
import { PasswordHasher } from './auth/password.js';
import { Reauthentication } from './auth/reauthentication.js';
import { GrantsStore } from './auth/principals.js';
import { SessionStore } from './auth/sessions.js';
import { RolesService } from './roles/roles.service.js';
import type { Outbox } from './shared/outbox.js';
import { TolerantCache } from './shared/tolerant-cache.js';
import { UsersService } from './users/users.service.js';

/** The identity and access services, wired together (DESIGN §3 "services"). */
export interface Identity {
  auth: AuthService;
  users: UsersService;
  roles: RolesService;
  hasher: PasswordHasher;
  /** For services that change who may do what (sharing). */
  grants: GrantsStore;
  /** Sessions; transports listen for the ones revoked on this instance (`onRevoked`). */
  sessions: SessionStore;
  audit: Audit;
  /** Woken after a change wrote domain events (for services outside identity, too). */
  outbox: Outbox;
}

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
  const sessions = new SessionStore(
    deps.database,
    cache,
    { ttlMs: deps.auth.sessionTtlMs, idleTimeoutMs: deps.auth.sessionIdleTimeoutMs, cacheTtlMs },
    log,
    deps.outbox,
  );
  const grants = new GrantsStore(deps.database, cache, cacheTtlMs);
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
    registration: deps.auth.registration,
    firstUserAdmin: deps.auth.firstUserAdmin,
    invitationTtlMs: deps.auth.invitationTtlMs,
    storageQuotaBytes: deps.quotas.storageBytesPerUser,
  });
  return {
    auth,
    users: new UsersService({ database: deps.database, hasher, sessions, grants, reauthentication, audit, log, cache, outbox: deps.outbox }),
    roles: new RolesService({ database: deps.database, grants, audit, outbox: deps.outbox }),
    hasher,
    grants,
    sessions,
    audit,
    outbox: deps.outbox,
  };
}
