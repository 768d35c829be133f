import { Type, type TSchema } from '@sinclair/typebox';
import { namePattern, serviceChecks } from '../openapi-contract.js';

/**
 * Schemas of the identity routes. Request schemas refuse unknown fields (mass assignment);
 * response schemas are also the serializers, so a user object can only ever hold these
 * fields: there is no way for a password hash or token hash to slip into a response.
 */
const Id = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });

export const UserSchema = Type.Object(
  { id: Id, email: Type.String(), name: Type.String(), createdAt: Timestamp, updatedAt: Timestamp },
  { $id: 'User', title: 'User', additionalProperties: false },
);
export const RoleRefSchema = Type.Object({ id: Id, name: Type.String() }, { $id: 'RoleRef', title: 'RoleRef', additionalProperties: false });
export const PermissionSchema = Type.Object(
  {
    id: Id,
    resourceType: Type.String({ description: 'A resource type, `*` for every resource type, or `user` / `role`' }),
    action: Type.Union(['create', 'read', 'update', 'delete', 'manage'].map((a) => Type.Literal(a))),
    conditions: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
      description: 'MongoDB-style conditions over the record; `"${user.id}"` stands for the caller',
    }),
  },
  { $id: 'Permission', title: 'Permission', additionalProperties: false },
);
export const RoleSchema = Type.Object(
  {
    id: Id,
    name: Type.String(),
    description: Type.String(),
    builtin: Type.Boolean({ description: 'admin and member are built in: they cannot be renamed or deleted' }),
    createdAt: Timestamp,
    updatedAt: Timestamp,
  },
  { $id: 'Role', title: 'Role', additionalProperties: false },
);
export const RoleDetailSchema = Type.Object(
  { ...RoleSchema.properties, permissions: Type.Array(Type.Unsafe({ $ref: 'Permission#' })) },
  { $id: 'RoleDetail', title: 'RoleDetail', additionalProperties: false },
);
export const SessionSchema = Type.Object(
  {
    id: Id,
    createdAt: Timestamp,
    lastSeenAt: Timestamp,
    expiresAt: Timestamp,
    userAgent: Type.Union([Type.String(), Type.Null()]),
    ip: Type.Union([Type.String(), Type.Null()]),
    current: Type.Boolean({ description: 'The session this request was made with' }),
  },
  { $id: 'Session', title: 'Session', additionalProperties: false },
);

export const UsageSchema = Type.Object(
  {
    storageBytes: Type.Integer({
      minimum: 0,
      description: "Bytes the caller's resources hold: every version's data plus metadata and name, plus 256 per resource and per version",
    }),
    storageQuotaBytes: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'quotas.storageBytesPerUser; null when unlimited' }),
  },
  { $id: 'Usage', title: 'Usage', additionalProperties: false },
);

export const IDENTITY_SCHEMAS: TSchema[] = [UserSchema, RoleRefSchema, PermissionSchema, RoleSchema, RoleDetailSchema, SessionSchema, UsageSchema];

export const ref = (name: string) => Type.Unsafe<never>({ $ref: `${name}#` });

/** A page of a list: keyset pagination with an opaque cursor. */
export const pageOf = (name: string) =>
  Type.Object({
    items: Type.Array(ref(name)),
    nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass as `cursor` for the next page; null on the last page' }),
  });

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);

export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });

// Passwords: 8 to 256 characters when set. Logins accept up to 1024 so an old, longer
// password still gets a clear "incorrect" rather than a schema error; beyond that the
// request is refused before any hashing.
export const Email = Type.String({ minLength: 3, maxLength: 320, description: 'Trimmed, normalised and compared case-insensitively' });
export const NewPassword = Type.String({ minLength: 8, maxLength: 256 });
export const Name = Type.String({
  minLength: 1,
  maxLength: 200,
  description:
    '1 to 200 characters after trimming; no control characters (C0, DEL, C1) or bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069)',
  ...serviceChecks({ pattern: namePattern(200) }),
});

export const PermissionInput = Type.Object(
  {
    resourceType: Type.String({ maxLength: 64 }),
    action: Type.Union(['create', 'read', 'update', 'delete', 'manage'].map((a) => Type.Literal(a))),
    conditions: Type.Optional(Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])),
  },
  { additionalProperties: false },
);
