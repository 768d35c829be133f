import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ResourcesService, ResourceView } from '../../services/resources/index.js';
import type { App } from '../app.js';
import { serviceContext } from '../service-context.js';
import { bearer, problems } from './auth.js';
import { ref } from './identity-schemas.js';
import { namePattern, responseHeaders, serviceChecks } from '../openapi-contract.js';
import { NAME_MAX } from '../../services/resources/input.js';

// What the service checks (services/resources/input.ts), told to OpenAPI readers.
const ResourceName = Type.String({
  description: '1 to 255 characters after trimming; no control characters or bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069)',
  ...serviceChecks({ pattern: namePattern(NAME_MAX) }),
});
const ResourceType = Type.String({
  description: 'A lowercase name: a letter, then up to 63 letters, digits, `_`, `.` or `-`; not `user` or `role`',
  ...serviceChecks({ pattern: '^[a-z][a-z0-9_.-]{0,63}$', not: { enum: ['user', 'role'] } }),
});
const JSON_RULES =
  'no key __proto__ or constructor.prototype, no U+0000, at most 64 levels deep; every number must read back as written (a 64-bit float: 1e400, 9007199254740993 or 0.10000000000000001 are refused; send such values as strings)';
const METADATA_RULES = `A JSON object of at most 64 KiB; ${JSON_RULES}`;
const Metadata = Type.Unknown({ description: METADATA_RULES, ...serviceChecks({ type: 'object' }) });
const DATA_RULES = `Any JSON up to resources.maxDataBytes; ${JSON_RULES}`;

export const Id = Type.String({ format: 'uuid' });
const Timestamp = Type.String({ format: 'date-time' });
const summaryProperties = {
  id: Id,
  ownerId: Id,
  name: Type.String(),
  type: Type.String(),
  metadata: Type.Record(Type.String(), Type.Unknown()),
  version: Type.Integer({ minimum: 1, description: 'The current version of the data; new data appends version n+1' }),
  revision: Type.Integer({ minimum: 1, description: 'Bumped by every change of the record (name, metadata, data, owner); the ETag is "<revision>"' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
};
export const ResourceSummarySchema = Type.Object(summaryProperties, { $id: 'ResourceSummary', title: 'ResourceSummary', additionalProperties: false });
export const ResourceSchema = Type.Object(
  { ...summaryProperties, data: Type.Unknown({ description: 'The current version’s JSON data' }) },
  { $id: 'Resource', title: 'Resource', additionalProperties: false },
);
export const RESOURCE_SCHEMAS = [ResourceSummarySchema, ResourceSchema];

export const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const VersionParams = Type.Object({ id: Type.String({ maxLength: 64 }), n: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) });
const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, description: 'Retries with the same key and body get the first answer (kept 24 h)' }),
  ),
});
const VersionItem = Type.Object({ version: Type.Integer(), createdBy: Type.Union([Id, Type.Null()]), createdAt: Timestamp });

/**
 * The revisions an If-Match header accepts: its strong tags `"3"` (RFC 9110: If-Match
 * compares strongly, so weak `W/"3"` tags never match). Undefined without the header or for
 * `*`. A header with no tag of ours gives an empty list, which nothing matches: 412.
 */
export function expectedRevisionsOf(header: string | undefined): number[] | undefined {
  if (header === undefined || header.trim() === '*') return undefined;
  return header
    .split(',')
    .map((tag) => /^\s*"([1-9][0-9]{0,9})"\s*$/.exec(tag)?.[1])
    .filter((v): v is string => v !== undefined)
    .map(Number);
}

function sendResource(reply: FastifyReply, status: number, resource: ResourceView & { replayed?: boolean }) {
  // The revision, not the version: a change of name or metadata must change the tag too.
  reply.header('etag', `"${resource.revision}"`);
  if (resource.replayed) reply.header('idempotent-replayed', 'true');
  const { replayed: _replayed, ...body } = resource;
  return reply.code(status).send(body);
}

/** The caller and the trace of a request, as the services take them (the request's logger is pino's, see http.ts). */

const writeOptions = (request: FastifyRequest) => ({ idempotencyKey: (request.headers['idempotency-key'] as string | undefined) ?? undefined });

/** Versioned resources under /api/v1/resources (DESIGN §5 "Resources"). */
export function registerResourceRoutes(api: App, resources: ResourcesService): void {
  api.post(
    '/resources',
    {
      schema: {
        tags: ['resources'],
        operationId: 'createResource',
        ...responseHeaders({ 201: ['Location', 'ETag', 'Idempotent-Replayed'] }),
        summary: 'Create a resource (version 1)',
        description:
          "Idempotent with an Idempotency-Key: the same key and body give the same answer and create one resource; another body under the key is 422; a retry while the first runs is 409. Bytes past the caller's quotas.storageBytesPerUser answer 422.",
        security: bearer,
        headers: IdempotencyHeaders,
        body: Type.Object(
          {
            name: ResourceName,
            type: ResourceType,
            metadata: Type.Optional(Metadata),
            data: Type.Unknown({ description: DATA_RULES }),
          },
          { additionalProperties: false, required: ['name', 'type', 'data'] },
        ),
        response: { 201: ref('Resource'), ...problems(400, 401, 403, 409, 413, 422) },
      },
    },
    async (request, reply) => {
      const created = await resources.create(serviceContext(request), request.body as Record<string, unknown>, writeOptions(request));
      reply.header('location', `/api/v1/resources/${created.id}`);
      return sendResource(reply, 201, created);
    },
  );

  api.get(
    '/resources',
    {
      schema: {
        tags: ['resources'],
        operationId: 'listResources',
        summary: 'The resources you may read, filtered, a page at a time (without data)',
        security: bearer,
        querystring: Type.Object(
          {
            type: Type.Optional(Type.String({ maxLength: 64 })),
            ownerId: Type.Optional(Type.String({ maxLength: 64 })),
            q: Type.Optional(Type.String({ maxLength: 255, description: 'Name contains, case-insensitively' })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
            cursor: Type.Optional(Type.String({ maxLength: 64 })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({ items: Type.Array(ref('ResourceSummary')), nextCursor: Type.Union([Type.String(), Type.Null()]) }),
          ...problems(400, 401),
        },
      },
    },
    async (request) => resources.list(serviceContext(request), request.query),
  );

  api.get(
    '/resources/:id',
    {
      schema: {
        tags: ['resources'],
        operationId: 'getResource',
        ...responseHeaders({ 200: ['ETag'] }),
        summary: 'A resource with its current data; ETag is its revision',
        security: bearer,
        params: IdParams,
        response: { 200: ref('Resource'), ...problems(401, 404) },
      },
    },
    async (request, reply) => sendResource(reply, 200, await resources.get(serviceContext(request), request.params.id)),
  );

  api.patch(
    '/resources/:id',
    {
      schema: {
        tags: ['resources'],
        operationId: 'updateResource',
        ...responseHeaders({ 200: ['ETag'] }),
        summary: 'Change name, metadata or data; new data appends a version',
        description:
          'With If-Match: "<revision>" (the ETag), a resource changed in any way since (name, metadata, data or owner) answers 412 with its current ETag. New data past resources.maxVersions, or bytes past the owner\'s quotas.storageBytesPerUser, answer 422.',
        security: bearer,
        params: IdParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 200 })) }),
        body: Type.Object(
          {
            name: Type.Optional(ResourceName),
            metadata: Type.Optional(Metadata),
            data: Type.Optional(Type.Unknown({ description: DATA_RULES })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref('Resource'), ...problems(400, 401, 403, 404, 412, 413, 422) },
      },
    },
    async (request, reply) => {
      const expected = { revisions: expectedRevisionsOf(request.headers['if-match']) };
      const updated = await resources.update(serviceContext(request), request.params.id, request.body as Record<string, unknown>, expected);
      return sendResource(reply, 200, updated);
    },
  );

  api.delete(
    '/resources/:id',
    {
      schema: {
        tags: ['resources'],
        operationId: 'deleteResource',
        summary: 'Delete a resource with its versions and shares',
        security: bearer,
        params: IdParams,
        response: { 204: Type.Null(), ...problems(401, 403, 404) },
      },
    },
    async (request, reply) => {
      await resources.delete(serviceContext(request), request.params.id);
      return reply.code(204).send(null);
    },
  );

  api.get(
    '/resources/:id/versions',
    {
      schema: {
        tags: ['resources'],
        operationId: 'listResourceVersions',
        summary: 'The version history, newest first',
        security: bearer,
        params: IdParams,
        querystring: Type.Object(
          { limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })), cursor: Type.Optional(Type.String({ maxLength: 64 })) },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(VersionItem), nextCursor: Type.Union([Type.String(), Type.Null()]) }), ...problems(400, 401, 404) },
      },
    },
    async (request) => resources.versions(serviceContext(request), request.params.id, request.query),
  );

  api.get(
    '/resources/:id/versions/:n',
    {
      schema: {
        tags: ['resources'],
        operationId: 'getResourceVersion',
        summary: 'One version with its data',
        security: bearer,
        params: VersionParams,
        response: { 200: Type.Object({ ...VersionItem.properties, data: Type.Unknown() }), ...problems(400, 401, 404) },
      },
    },
    async (request) => resources.version(serviceContext(request), request.params.id, request.params.n),
  );

  api.get(
    '/resources/:id/diff',
    {
      schema: {
        tags: ['resources'],
        operationId: 'diffResourceVersions',
        summary: 'RFC 6902 JSON Patch from version `from` to version `to`',
        description:
          'A patch that turns version `from`’s data into version `to`’s (not always the shortest one). A diff that would take too much work or a patch over 1 MiB is refused with 422 UNPROCESSABLE_ENTITY: read both versions instead (docs/limits.md "Diffs").',
        security: bearer,
        params: IdParams,
        querystring: Type.Object(
          { from: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }), to: Type.Integer({ minimum: 1, maximum: 2_147_483_647 }) },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Array(Type.Object({ op: Type.String(), path: Type.String(), from: Type.Optional(Type.String()), value: Type.Optional(Type.Unknown()) })),
          ...problems(400, 401, 404, 422),
        },
      },
    },
    async (request) => resources.diff(serviceContext(request), request.params.id, request.query.from, request.query.to),
  );

  api.post(
    '/resources/:id/versions/:n/restore',
    {
      schema: {
        tags: ['resources'],
        operationId: 'restoreResourceVersion',
        ...responseHeaders({ 200: ['ETag', 'Idempotent-Replayed'] }),
        summary: 'Append a version whose data equals version n',
        description: "Past resources.maxVersions, or the owner's quotas.storageBytesPerUser, answers 422.",
        security: bearer,
        params: VersionParams,
        headers: IdempotencyHeaders,
        response: { 200: ref('Resource'), ...problems(400, 401, 403, 404, 409, 422) },
      },
    },
    async (request, reply) =>
      sendResource(reply, 200, await resources.restore(serviceContext(request), request.params.id, request.params.n, writeOptions(request))),
  );
}
