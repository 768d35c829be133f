import type { CallOptions } from './call-options.js';
import { paginated, type Paginated } from './pagination.js';
import { path, type Transport } from './transport.js';
import type { Page, Permission, PermissionInput, Role, RoleChanges, RoleDetail, RoleInput } from './types.js';

/** Roles and their permissions: /api/v1/roles. */
export class Roles {
  constructor(private readonly transport: Transport) {}

  /** The roles you may read; iterate for all, or `.page()` for one page. */
  list(options: CallOptions = {}): Paginated<Role> {
    return paginated(
      async (cursor) =>
        (
          await this.transport.request<Page<Role>>({
            method: 'GET',
            path: '/api/v1/roles',
            query: { limit: 100, cursor },
            signal: options.signal,
            retry: 'read',
          })
        ).body,
    );
  }

  /** A role with its permissions. */
  async get(id: string, options: CallOptions = {}): Promise<RoleDetail> {
    return (await this.transport.request<RoleDetail>({ method: 'GET', path: path`/api/v1/roles/${id}`, signal: options.signal, retry: 'read' })).body;
  }

  async create(input: RoleInput, options: CallOptions = {}): Promise<RoleDetail> {
    return (await this.transport.request<RoleDetail>({ method: 'POST', path: '/api/v1/roles', body: input, signal: options.signal, retry: 'once' })).body;
  }

  /** Renames or describes a role (built-in roles keep their names). */
  async update(id: string, changes: RoleChanges, options: CallOptions = {}): Promise<RoleDetail> {
    return (
      await this.transport.request<RoleDetail>({ method: 'PATCH', path: path`/api/v1/roles/${id}`, body: changes, signal: options.signal, retry: 'once' })
    ).body;
  }

  /** Deletes a role (not a built-in one). */
  async delete(id: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/api/v1/roles/${id}`, signal: options.signal, retry: 'once' });
  }

  async addPermission(id: string, input: PermissionInput, options: CallOptions = {}): Promise<Permission> {
    return (
      await this.transport.request<Permission>({
        method: 'POST',
        path: path`/api/v1/roles/${id}/permissions`,
        body: input,
        signal: options.signal,
        retry: 'once',
      })
    ).body;
  }

  async removePermission(id: string, permissionId: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/api/v1/roles/${id}/permissions/${permissionId}`, signal: options.signal, retry: 'once' });
  }
}
