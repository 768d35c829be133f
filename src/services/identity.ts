import type { Audit } from './auth/audit.js';
import type { AuthService } from './auth/auth.service.js';
import type { PasswordHasher } from './auth/password.js';
import type { GrantsStore } from './auth/principals.js';
import type { SessionStore } from './auth/sessions.js';
import type { GrantsService } from './roles/grants.service.js';
import type { RolesService } from './roles/roles.service.js';
import type { Outbox } from './shared/outbox.js';
import type { UnitOfWork } from './shared/unit-of-work.js';
import type { UsersService } from './users/users.service.js';

/**
 * The identity and access services as transports and other services receive them (DESIGN §3
 * "services"); src/wiring/identity.ts assembles them.
 */
export interface Identity {
  auth: AuthService;
  users: UsersService;
  /** Roles and their permissions. */
  roles: RolesService;
  /** Who holds which role, and permissions held directly. */
  userGrants: GrantsService;
  hasher: PasswordHasher;
  /** For services that change who may do what (sharing). */
  grants: GrantsStore;
  /** Sessions; transports listen for the ones revoked on this instance (`onRevoked`). */
  sessions: SessionStore;
  audit: Audit;
  /** Woken after a change wrote domain events (for services outside identity, too). */
  outbox: Outbox;
  /** Changes with their events and invalidations as one unit (for services outside identity, too). */
  work: UnitOfWork;
}
