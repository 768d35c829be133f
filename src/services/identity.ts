import type { Audit } from './auth/audit.js';
import type { AuthService } from './auth/auth.service.js';
import type { PasswordHasher } from './auth/password.js';
import type { GrantsStore } from './auth/principals.js';
import type { SessionStore } from './auth/sessions.js';
import type { RolesService } from './roles/roles.service.js';
import type { Outbox } from './shared/outbox.js';
import type { UsersService } from './users/users.service.js';

/**
 * The identity and access services as transports and other services receive them (DESIGN §3
 * "services"); src/wiring/identity.ts assembles them.
 */
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
