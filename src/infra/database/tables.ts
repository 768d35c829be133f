import type { ColumnType, Generated } from 'kysely';

/**
 * Row types of every table, as Kysely sees them. They mirror `migrations/*.sql`; a column
 * added there is added here in the same change.
 */
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type UpdatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<unknown, string, string>;

export interface UsersTable {
  id: string;
  email: string;
  name: string;
  password_hash: string;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

/**
 * One slot of a user's storage count (migration 0008): the user's usage is the sum of its
 * slots' `used_bytes`; `allowance_bytes` is the slot's share of the quota `quota_bytes`
 * (NULL: not divided). See src/services/resources/quota.ts.
 */
export interface StorageSlotsTable {
  user_id: string;
  slot: number;
  used_bytes: ColumnType<string, string | number | undefined, string | number>;
  allowance_bytes: ColumnType<string, string | number | undefined, string | number>;
  quota_bytes: ColumnType<string | null, string | number | null | undefined, string | number | null>;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  token: Buffer | Uint8Array;
  expires_at: Date;
  last_seen_at: UpdatedAt;
  user_agent: string | null;
  ip: string | null;
  created_at: CreatedAt;
}

export interface RolesTable {
  id: string;
  name: string;
  description: Generated<string>;
  builtin: Generated<boolean>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface PermissionsTable {
  id: string;
  resource_type: string;
  action: 'create' | 'read' | 'update' | 'delete' | 'manage';
  conditions: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  created_at: CreatedAt;
}

/** A resource shared with a user (migration 0006): one row per pair, its actions a set. */
export interface ResourceSharesTable {
  resource_id: string;
  user_id: string;
  actions: ColumnType<string[], string[], string[]>;
  created_at: CreatedAt;
}

export interface UserRolesTable {
  user_id: string;
  role_id: string;
  created_at: CreatedAt;
}

export interface RolePermissionsTable {
  role_id: string;
  permission_id: string;
}

export interface UserPermissionsTable {
  user_id: string;
  permission_id: string;
}

export interface ResourcesTable {
  id: string;
  owner_id: string;
  name: string;
  type: string;
  metadata: ColumnType<Record<string, unknown>, string | undefined, string>;
  version: Generated<number>;
  /** Bumped by every change of the record (name, metadata, data, owner): the ETag. */
  revision: Generated<number>;
  /** Bytes of every version's data and of the metadata (migration 0005). */
  storage_bytes: ColumnType<string | number | bigint, number | undefined, string | number>;
  created_at: CreatedAt;
  updated_at: UpdatedAt;
}

export interface ResourceVersionsTable {
  id: string;
  resource_id: string;
  version: number;
  data: Json;
  created_by: string | null;
  created_at: CreatedAt;
}

export interface OutboxTable {
  id: string;
  topic: string;
  aggregate_type: string;
  aggregate_id: string;
  payload: Json;
  trace_id: string | null;
  created_at: CreatedAt;
  published_at: ColumnType<Date | null, never, Date | string | null>;
  /** Commit order per aggregate (identity; never written). */
  seq: ColumnType<string, never, never>;
}

export interface NotificationsTable {
  id: string;
  user_id: string;
  kind: string;
  payload: ColumnType<Record<string, unknown>, string | undefined, string>;
  event_id: string | null;
  read_at: ColumnType<Date | null, never, Date | string | null>;
  email_claimed_at: ColumnType<Date | null, never, Date | string | null>;
  emailed_at: ColumnType<Date | null, never, Date | string | null>;
  /** Commit order per user (identity; never written). */
  seq: ColumnType<string, never, never>;
  created_at: CreatedAt;
}

export interface NotificationPreferencesTable {
  user_id: string;
  kind: string;
  email: boolean;
}

export interface InvitationsTable {
  id: string;
  email: string;
  token: Buffer | Uint8Array;
  invited_by: string | null;
  expires_at: Date;
  accepted_at: ColumnType<Date | null, never, Date | string | null>;
  created_at: CreatedAt;
}

export interface IdempotencyKeysTable {
  user_id: string;
  scope: string;
  key: string;
  request_hash: Buffer | Uint8Array;
  status: number | null;
  response: ColumnType<unknown, string | null, string | null>;
  created_at: CreatedAt;
}

export interface Tables {
  users: UsersTable;
  sessions: SessionsTable;
  roles: RolesTable;
  permissions: PermissionsTable;
  user_roles: UserRolesTable;
  role_permissions: RolePermissionsTable;
  user_permissions: UserPermissionsTable;
  resources: ResourcesTable;
  storage_slots: StorageSlotsTable;
  resource_shares: ResourceSharesTable;
  resource_versions: ResourceVersionsTable;
  outbox: OutboxTable;
  notifications: NotificationsTable;
  notification_preferences: NotificationPreferencesTable;
  invitations: InvitationsTable;
  idempotency_keys: IdempotencyKeysTable;
}
