import type { Auth } from './auth.js';
import type { CallOptions } from './call-options.js';
import type { Roles } from './roles.js';
import type { Users } from './users.js';
import type { Permission, PermissionInput } from './types.js';

/** Who a permission is given to: a user directly, or a role. */
export type Grantee = { userId: string } | { roleId: string };

/** Permissions from either side: what you hold, and granting to users or roles. */
export class Permissions {
  constructor(
    private readonly auth: Auth,
    private readonly users: Users,
    private readonly roles: Roles,
  ) {}

  /** What you may do: the permissions of your roles and those granted to you directly. */
  async mine(options: CallOptions = {}): Promise<Permission[]> {
    return (await this.auth.me(options)).permissions;
  }

  grant(to: Grantee, input: PermissionInput, options: CallOptions = {}): Promise<Permission> {
    return 'userId' in to ? this.users.grant(to.userId, input, options) : this.roles.addPermission(to.roleId, input, options);
  }

  revoke(from: Grantee, permissionId: string, options: CallOptions = {}): Promise<void> {
    return 'userId' in from ? this.users.revoke(from.userId, permissionId, options) : this.roles.removePermission(from.roleId, permissionId, options);
  }
}
