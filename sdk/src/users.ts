import type { CallOptions } from './call-options.js';
import { paginated, type Paginated } from './pagination.js';
import { path, type Transport } from './transport.js';
import type { Page, Permission, PermissionInput, User, UserChanges, UserGrants, UserInput } from './types.js';

/** Users and what they hold: /api/v1/users. */
export class Users {
  constructor(private readonly transport: Transport) {}

  /** The users you may read; iterate for all, or `.page()` for one page. */
  list(options: CallOptions = {}): Paginated<User> {
    return paginated(
      async (cursor) =>
        (
          await this.transport.request<Page<User>>({
            method: 'GET',
            path: '/api/v1/users',
            query: { limit: 100, cursor },
            signal: options.signal,
            retry: 'read',
          })
        ).body,
    );
  }

  async get(id: string, options: CallOptions = {}): Promise<User> {
    return (await this.transport.request<User>({ method: 'GET', path: path`/api/v1/users/${id}`, signal: options.signal, retry: 'read' })).body;
  }

  /** Creates a user (a member). */
  async create(input: UserInput, options: CallOptions = {}): Promise<User> {
    return (await this.transport.request<User>({ method: 'POST', path: '/api/v1/users', body: input, signal: options.signal, retry: 'once' })).body;
  }

  /** Changes name or email (your own email needs `currentPassword`). */
  async update(id: string, changes: UserChanges, options: CallOptions = {}): Promise<User> {
    return (await this.transport.request<User>({ method: 'PATCH', path: path`/api/v1/users/${id}`, body: changes, signal: options.signal, retry: 'once' }))
      .body;
  }

  /** Deletes a user; one who owns resources needs `transferTo`, who receives them. */
  async delete(id: string, options: CallOptions & { transferTo?: string } = {}): Promise<void> {
    await this.transport.request({
      method: 'DELETE',
      path: path`/api/v1/users/${id}`,
      query: { transferTo: options.transferTo },
      signal: options.signal,
      retry: 'once',
    });
  }

  /** What a user holds (administrators): its roles, and the permissions granted to it directly. */
  async grants(id: string, options: CallOptions = {}): Promise<UserGrants> {
    return (await this.transport.request<UserGrants>({ method: 'GET', path: path`/api/v1/users/${id}/grants`, signal: options.signal, retry: 'read' })).body;
  }

  /** Gives a user a role (idempotent). */
  async assignRole(id: string, roleId: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'PUT', path: path`/api/v1/users/${id}/roles/${roleId}`, signal: options.signal, retry: 'read' });
  }

  /** Takes a role from a user (idempotent). */
  async unassignRole(id: string, roleId: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/api/v1/users/${id}/roles/${roleId}`, signal: options.signal, retry: 'read' });
  }

  /** Grants a user a permission directly. */
  async grant(id: string, input: PermissionInput, options: CallOptions = {}): Promise<Permission> {
    return (
      await this.transport.request<Permission>({
        method: 'POST',
        path: path`/api/v1/users/${id}/permissions`,
        body: input,
        signal: options.signal,
        retry: 'once',
      })
    ).body;
  }

  /** Revokes a permission granted directly. */
  async revoke(id: string, permissionId: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/api/v1/users/${id}/permissions/${permissionId}`, signal: options.signal, retry: 'once' });
  }
}
