import type { Auth } from './auth.js';
import type { CallOptions } from './call-options.js';
import type { Roles } from './roles.js';
import type { Transport } from './transport.js';
import type { Users } from './users.js';
import type { Permission, PermissionInput, PermissionPreview, PermissionPreviewInput } from './types.js';

/** Who a permission is given to: a user directly, or a role. */
export type Grantee = { userId: string } | { roleId: string };

/** Permissions from either side: what you hold, what one would match, and granting to users or roles. */
export class Permissions {
  constructor(
    private readonly transport: Transport,
    private readonly auth: Auth,
    private readonly users: Users,
    private readonly roles: Roles,
  ) {}

  /** What you may do: the permissions of your roles and those granted to you directly. */
  async mine(options: CallOptions = {}): Promise<Permission[]> {
    return (await this.auth.me(options)).permissions;
  }

  /**
   * The resources a permission would match before you grant it (administrators): its
   * conditions normalised, the first `limit` matches (default 20, at most 100) and whether there
   * are `more`. `"${user.id}"` stands for `userId` (default: you). An invalid permission throws
   * PcfError INVALID_INPUT whose `errors` name paths under `conditions`.
   */
  async preview(input: PermissionPreviewInput, options: CallOptions = {}): Promise<PermissionPreview> {
    // A POST that changes nothing: safe to repeat like a read.
    return (
      await this.transport.request<PermissionPreview>({
        method: 'POST',
        path: '/api/v1/permissions/preview',
        body: input,
        signal: options.signal,
        retry: 'read',
      })
    ).body;
  }

  grant(to: Grantee, input: PermissionInput, options: CallOptions = {}): Promise<Permission> {
    return 'userId' in to ? this.users.grant(to.userId, input, options) : this.roles.addPermission(to.roleId, input, options);
  }

  revoke(from: Grantee, permissionId: string, options: CallOptions = {}): Promise<void> {
    return 'userId' in from ? this.users.revoke(from.userId, permissionId, options) : this.roles.removePermission(from.roleId, permissionId, options);
  }
}
