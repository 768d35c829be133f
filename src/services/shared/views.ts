import type { Conditions, PermissionRule } from '../access/index.js';

/**
 * What services hand to transports: plain, JSON-ready objects with camelCase fields and ISO
 * timestamps. Secrets (password hashes, token hashes) have no field here, so no transport can
 * send one by accident.
 */
export interface UserView {
  id: string;
  email: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

export interface RoleView {
  id: string;
  name: string;
  description: string;
  builtin: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface RoleRef {
  id: string;
  name: string;
}

export interface PermissionView extends PermissionRule {
  conditions: Conditions | null;
}

export interface SessionView {
  id: string;
  createdAt: string;
  lastSeenAt: string;
  expiresAt: string;
  userAgent: string | null;
  ip: string | null;
  /** True for the session the request was made with. */
  current: boolean;
}

const iso = (value: Date | string): string => (value instanceof Date ? value.toISOString() : new Date(value).toISOString());

export function userView(row: { id: string; email: string; name: string; created_at: Date; updated_at: Date }): UserView {
  return { id: row.id, email: row.email, name: row.name, createdAt: iso(row.created_at), updatedAt: iso(row.updated_at) };
}

export function roleView(row: { id: string; name: string; description: string; builtin: boolean; created_at: Date; updated_at: Date }): RoleView {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    builtin: row.builtin,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
  };
}

export function permissionView(row: { id: string; resource_type: string; action: PermissionRule['action']; conditions: Conditions | null }): PermissionView {
  return { id: row.id, resourceType: row.resource_type, action: row.action, conditions: row.conditions };
}

export { iso };

/** What a user's resources hold, against its storage quota. */
export interface StorageUsage {
  /** Bytes the user's resources hold. */
  storageBytes: number;
  /** `quotas.storageBytesPerUser`; null when unlimited (0). */
  storageQuotaBytes: number | null;
}
