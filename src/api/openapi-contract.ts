import { ERROR_CODES, type ErrorCode } from '../core/errors.js';

/**
 * What the OpenAPI document says beyond each route's own schema: the answers every request
 * can get from the layers in front of the routes (the readiness gate, authentication, body
 * parsing, the rate limiter, the database), the headers every response carries, and the one
 * shared description of each. Route schemas declare what their handler and service can
 * answer (a 404, a 412 with its ETag); `finishDocument` adds the rest, so a new route is
 * documented as completely as the old ones without repeating any of it.
 */

type Json = Record<string, unknown>;

/** Response headers, documented once under components/headers. */
export const RESPONSE_HEADERS = {
  'X-Request-Id': { description: 'The id of this request, as the server log names it.', schema: { type: 'string' } },
  Traceresponse: {
    description: 'W3C Trace Context of this request (`00-<trace id>-<span id>-<flags>`); the trace id is the problem’s `traceId`.',
    schema: { type: 'string' },
  },
  'Cache-Control': { description: '`no-store` on every API and GraphQL response, errors included.', schema: { type: 'string' } },
  RateLimit: {
    description:
      'What is left of each budget this request was counted against, and seconds until it resets (IETF draft, structured fields): `"user";r=599;t=42`.',
    schema: { type: 'string' },
  },
  'RateLimit-Policy': {
    description: 'The budgets this request was counted against: `"user";q=600;w=60` (q requests or bytes per w seconds). See docs/gateway.md.',
    schema: { type: 'string' },
  },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
  ETag: { description: 'The resource’s revision as a strong tag, `"<revision>"`; send it back as If-Match.', schema: { type: 'string' } },
  Location: { description: 'The path of what was created.', schema: { type: 'string' } },
  'Idempotent-Replayed': {
    description: '`true` when this is the stored answer to an earlier request with the same Idempotency-Key.',
    schema: { type: 'string', enum: ['true'] },
  },
  'WWW-Authenticate': { description: 'The authentication scheme the route expects (`Bearer`).', schema: { type: 'string' } },
  Allow: { description: 'The methods the target takes.', schema: { type: 'string' } },
} as const satisfies Record<string, { description: string; schema: Json }>;

export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

/** Request headers as shared parameters (components/parameters), by the name routes declare them under. */
const REQUEST_HEADERS: Record<string, { component: string; description: string }> = {
  'if-match': {
    component: 'IfMatch',
    description: 'Change only if the resource is still at this revision: its ETag, `"<revision>"` (strong tags only; `*` matches any). Otherwise 412.',
  },
  'idempotency-key': {
    component: 'IdempotencyKey',
    description:
      '1 to 255 visible ASCII characters. Retries with the same key and body get the first answer (kept 24 h, with Idempotent-Replayed: true); another body under the key is 422; a retry while the first runs is 409 with Retry-After.',
  },
};

/** Which headers an operation's responses carry beyond the common ones, by status; declared in the route schema. */
export type ResponseHeaders = Partial<Record<number, readonly ResponseHeader[]>>;

/** Route-schema key of the response headers a route sets itself (see `responseHeaders`). */
const HEADERS_KEY = 'x-response-headers';
/** Route-schema key the swagger transform marks a route's rate-limit class under. */
const RATE_LIMIT_KEY = 'x-pcf-rate-limit';

/** Schema key of the rules a service checks that the document states as JSON Schema (see `serviceChecks`). */
const SERVICE_CHECKS_KEY = 'x-service-checks';

/**
 * Spread into a request field's schema: JSON Schema keywords for what the service checks
 * (services/…/input.ts), stated in the document but not checked by the route's validator. The
 * service checks them for every transport, reporting every problem of the request at once
 * with its own messages; an earlier schema refusal would cut that list short and change them.
 */
export function serviceChecks(keywords: Json): { [SERVICE_CHECKS_KEY]: Json } {
  return { [SERVICE_CHECKS_KEY]: keywords };
}

/**
 * What a display name may be, as services/shared/text.ts and the validators check it: after
 * trimming (JS `trim`, the `\s` class), 1 to `max` characters, none of them control
 * characters (C0, DEL, C1) or bidirectional embeddings, overrides and isolates.
 */
export function namePattern(max: number): string {
  const refused = '\\u0000-\\u001F\\u007F-\\u009F\\u202A-\\u202E\\u2066-\\u2069';
  return `^\\s*[^\\s${refused}](?:[^${refused}]{0,${max - 2}}[^\\s${refused}])?\\s*$`;
}

/** Spread into a route schema: the headers its handler sets, documented on its responses. */
export function responseHeaders(headers: ResponseHeaders): { [HEADERS_KEY]: ResponseHeaders } {
  return { [HEADERS_KEY]: headers };
}

interface ErrorResponse {
  name: string;
  code: ErrorCode;
  /** Why an operation may answer it, for readers of the document. */
  when: string;
  headers?: readonly ResponseHeader[];
  required?: readonly ResponseHeader[];
}

const ERROR_RESPONSES: Record<number, ErrorResponse> = {
  400: { name: 'BadRequest', code: 'INVALID_INPUT', when: 'The request is malformed or a field is invalid; `errors` lists each field problem.' },
  401: {
    name: 'Unauthorized',
    code: 'UNAUTHORIZED',
    when: 'No valid session: the token is missing where one is needed, or malformed, unknown, revoked or expired (refused on every route, so a dead session is never mistaken for an anonymous one).',
    headers: ['WWW-Authenticate'],
  },
  403: { name: 'Forbidden', code: 'FORBIDDEN', when: 'The caller may not do this.' },
  404: { name: 'NotFound', code: 'NOT_FOUND', when: 'No such thing, or none the caller may see.' },
  409: {
    name: 'Conflict',
    code: 'CONFLICT',
    when: 'The request conflicts with the current state (a duplicate, a last admin, an Idempotency-Key still in use: then with Retry-After).',
    headers: ['Retry-After'],
  },
  412: {
    name: 'PreconditionFailed',
    code: 'PRECONDITION_FAILED',
    when: 'If-Match names a revision the resource is no longer at; ETag gives the current one.',
    headers: ['ETag'],
  },
  413: { name: 'PayloadTooLarge', code: 'PAYLOAD_TOO_LARGE', when: 'The body is larger than `http.bodyLimitBytes` (or a field than its own limit).' },
  415: { name: 'UnsupportedMediaType', code: 'UNSUPPORTED_MEDIA_TYPE', when: 'The body is not `application/json`.' },
  422: {
    name: 'UnprocessableEntity',
    code: 'UNPROCESSABLE_ENTITY',
    when: 'Well-formed but refused: a quota or limit reached, an Idempotency-Key reused with another body, a diff too large.',
  },
  429: {
    name: 'TooManyRequests',
    code: 'RATE_LIMITED',
    when: 'A budget is spent (docs/gateway.md); wait Retry-After seconds.',
    headers: ['Retry-After'],
    required: ['Retry-After'],
  },
  500: { name: 'InternalError', code: 'INTERNAL_ERROR', when: 'A bug; quote the traceId when reporting it.' },
  503: {
    name: 'ServiceUnavailable',
    code: 'SERVICE_UNAVAILABLE',
    when: 'The instance is starting or shutting down, or a dependency (database, cache, the shared rate-limit store for sign-in) is unreachable; retry after Retry-After, on another instance if shutting down.',
    headers: ['Retry-After'],
  },
  504: { name: 'GatewayTimeout', code: 'TIMEOUT', when: 'The database took too long to answer.' },
};

const ref = (kind: string, name: string) => ({ $ref: `#/components/${kind}/${name}` });
const headerRefs = (names: readonly ResponseHeader[]) => Object.fromEntries(names.map((name) => [name, ref('headers', name)]));

/** Headers on every answer of /api and /graphql routes, errors included. */
const COMMON_HEADERS: readonly ResponseHeader[] = ['X-Request-Id', 'Traceresponse'];
const API_HEADERS: readonly ResponseHeader[] = ['Cache-Control'];
const RATE_LIMIT_HEADERS: readonly ResponseHeader[] = ['RateLimit', 'RateLimit-Policy'];

const BODY_METHODS = new Set(['post', 'put', 'patch', 'delete']);
/** Paths behind authentication, the readiness gate and the database (http.ts, authentication.ts). */
const API_PATH = /^\/(api\/|graphql)/;

function problemResponse(error: ErrorResponse): Json {
  const headers = [...COMMON_HEADERS, ...API_HEADERS, ...RATE_LIMIT_HEADERS, ...(error.headers ?? [])];
  return {
    description: `${ERROR_CODES[error.code].title} (\`${error.code}\`). ${error.when}`,
    headers: Object.fromEntries(
      headers.map((name) => [name, error.required?.includes(name) ? { ...ref('headers', name), required: true } : ref('headers', name)]),
    ),
    content: { 'application/problem+json': { schema: ref('schemas', 'Problem') } },
  };
}

// A header `$ref` may not carry `required`: such headers are written out in full instead.
function inlineRequiredHeaders(response: Json): Json {
  const headers = response.headers as Record<string, Json>;
  for (const [name, header] of Object.entries(headers)) {
    if (header.required) headers[name] = { ...RESPONSE_HEADERS[name as ResponseHeader], required: true };
  }
  return response;
}

/**
 * The swagger `transform`: marks each route with what the document needs from its route
 * options (its rate-limit class), for `finishDocument`.
 */
export function markRoute({ schema, url, route }: { schema: Json | undefined; url: string; route: { config?: unknown } }): { schema: Json; url: string } {
  const rateLimit = (route.config as { rateLimit?: string } | undefined)?.rateLimit;
  // The REST index is served with and without its slash; the document names it once, without.
  const path = url.length > 1 ? url.replace(/\/$/, '') : url;
  return { schema: { ...schema, [RATE_LIMIT_KEY]: rateLimit ?? 'default' }, url: path };
}

/**
 * The swagger `transformObject`: shared components, every operation's full set of answers,
 * and their headers.
 */
export function finishDocument(document: Json): Json {
  const components = (document.components ??= {}) as Record<string, Json>;
  components.headers = { ...RESPONSE_HEADERS };
  components.responses = Object.fromEntries(Object.values(ERROR_RESPONSES).map((error) => [error.name, inlineRequiredHeaders(problemResponse(error))]));
  components.parameters = Object.fromEntries(
    Object.entries(REQUEST_HEADERS).map(([name, { component, description }]) => [
      component,
      { name: canonicalHeaderName(name), in: 'header', required: false, description, schema: { type: 'string', minLength: 1, maxLength: 255 } },
    ]),
  );
  Object.assign((components.schemas ??= {}), GRAPHQL_SCHEMAS);
  stateServiceChecks(document);

  for (const [path, item] of Object.entries(document.paths as Record<string, Record<string, Json>>)) {
    for (const [method, operation] of Object.entries(item)) {
      const rateLimited = operation[RATE_LIMIT_KEY] !== 'exempt';
      delete operation[RATE_LIMIT_KEY];
      const declared = (operation[HEADERS_KEY] ?? {}) as ResponseHeaders;
      delete operation[HEADERS_KEY];
      if (path === '/graphql') describeGraphql(method, operation);
      sharedParameters(operation);

      const responses = operation.responses as Record<string, Json>;
      for (const status of gatewayStatuses(path, method, operation, rateLimited)) responses[status] ??= {};
      const successHeaders = [...COMMON_HEADERS, ...(API_PATH.test(path) ? API_HEADERS : []), ...(rateLimited ? RATE_LIMIT_HEADERS : [])];
      for (const [status, response] of Object.entries(responses)) {
        const code = Number(status);
        if (code >= 400 && path !== '/graphql') {
          responses[status] = ref('responses', ERROR_RESPONSES[code]!.name);
          continue;
        }
        if (code >= 400) continue;
        const headers = [...new Set([...successHeaders, ...(declared[code] ?? [])])];
        response.headers = { ...(response.headers as Json | undefined), ...headerRefs(headers) };
      }
      operation.responses = Object.fromEntries(Object.entries(responses).sort(([a], [b]) => Number(a) - Number(b)));
    }
  }
  return document;
}

/**
 * What the layers in front of a route can answer (api/http.ts and the gateway): 400 for a
 * malformed body or parameter, 401 for a refused token, 413 and 415 for a body, 429 past a
 * budget, 503 while starting or draining, 504 and 500 from below.
 */
function gatewayStatuses(path: string, method: string, operation: Json, rateLimited: boolean): number[] {
  const api = API_PATH.test(path);
  const body = BODY_METHODS.has(method);
  const statuses = [500];
  if (body || (operation.parameters as unknown[] | undefined)?.length) statuses.push(400);
  if (api) statuses.push(401, 504);
  if (body) statuses.push(413, 415);
  if (rateLimited) statuses.push(429);
  if (!path.startsWith('/health')) statuses.push(503);
  return statuses;
}

/** Merges every `serviceChecks` into the schema that carries it. */
function stateServiceChecks(node: unknown): void {
  if (typeof node !== 'object' || node === null) return;
  if (Array.isArray(node)) return node.forEach(stateServiceChecks);
  const object = node as Json;
  const checks = object[SERVICE_CHECKS_KEY] as Json | undefined;
  if (checks) {
    delete object[SERVICE_CHECKS_KEY];
    Object.assign(object, checks);
  }
  for (const value of Object.values(object)) stateServiceChecks(value);
}

const canonicalHeaderName = (name: string) => name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());

/** Request headers routes declare (`if-match`, `idempotency-key`) as references to the shared parameters. */
function sharedParameters(operation: Json): void {
  const parameters = operation.parameters as Json[] | undefined;
  if (!parameters) return;
  operation.parameters = parameters.map((p) => {
    const shared = p.in === 'header' ? REQUEST_HEADERS[String(p.name).toLowerCase()] : undefined;
    return shared ? ref('parameters', shared.component) : p;
  });
}

// GraphQL over HTTP (api/graphql/http-route.ts). Its routes carry no Fastify schemas (the
// route checks the request itself and its answers are GraphQL responses, which a response
// schema would reduce to the fields it lists), so they are described here.
const GRAPHQL_SCHEMAS = {
  GraphqlRequest: {
    type: 'object',
    title: 'GraphqlRequest',
    description: 'One GraphQL operation (GraphQL over HTTP).',
    properties: {
      query: { type: 'string', description: 'The GraphQL document (at most graphql.maxDocumentBytes).' },
      operationName: { type: ['string', 'null'] },
      variables: { type: ['object', 'null'], additionalProperties: true },
      extensions: { type: ['object', 'null'], additionalProperties: true },
    },
  },
  GraphqlError: {
    type: 'object',
    title: 'GraphqlError',
    properties: {
      message: { type: 'string' },
      locations: { type: 'array', items: { type: 'object', properties: { line: { type: 'integer' }, column: { type: 'integer' } } } },
      path: { type: 'array', items: { type: ['string', 'integer'] } },
      extensions: {
        type: 'object',
        description: 'Its `code` (docs/errors.md), `traceId`, and `errors` (field problems) where there are any.',
        properties: { code: { type: 'string' }, traceId: { type: 'string' } },
        additionalProperties: true,
      },
    },
    required: ['message'],
  },
  GraphqlResponse: {
    type: 'object',
    title: 'GraphqlResponse',
    properties: {
      data: { description: 'The result; null when the operation was refused before it ran.' },
      errors: { type: 'array', items: { $ref: '#/components/schemas/GraphqlError' } },
      extensions: { type: 'object', additionalProperties: true, description: 'The operation’s `cost` among others.' },
    },
  },
} as const;

const graphqlResponse = { $ref: '#/components/schemas/GraphqlResponse' };

function describeGraphql(method: string, operation: Json): void {
  const get = method === 'get';
  operation.operationId = get ? 'executeGraphqlQuery' : 'executeGraphql';
  operation.tags = ['graphql'];
  operation.security = [{}, { bearer: [] }];
  operation.summary = get ? 'Run a GraphQL query given in the query string' : 'Run a GraphQL query or mutation, or a batch of them';
  operation.description =
    (get
      ? 'Queries only (a mutation answers 405 with Allow: POST); `variables` is a JSON text. Subscriptions are served over WebSocket on this path (graphql-transport-ws).'
      : 'A JSON operation, a JSON array of operations (a batch, at most graphql.maxBatch; always 200, each element answering for itself), or an `application/graphql` document.') +
    ' Anonymous or signed in. Refusals before the operation runs (a malformed request, a document over its limits, a spent budget, a refused token) answer with their status and a GraphQL response whose `data` is null; errors while it runs answer 200 with `errors`. ' +
    'While the instance starts or drains the answer is 503 problem+json, like any API route.';
  if (get) {
    operation.parameters = [
      { name: 'query', in: 'query', required: true, schema: { type: 'string' }, description: 'The GraphQL document.' },
      { name: 'operationName', in: 'query', required: false, schema: { type: 'string' } },
      { name: 'variables', in: 'query', required: false, schema: { type: 'string' }, description: 'The variables as a JSON object text.' },
    ];
  } else {
    operation.requestBody = {
      required: true,
      content: {
        'application/json': {
          schema: { oneOf: [{ $ref: '#/components/schemas/GraphqlRequest' }, { type: 'array', items: { $ref: '#/components/schemas/GraphqlRequest' } }] },
        },
        'application/graphql': { schema: { type: 'string' } },
      },
    };
  }
  const refusal = (description: string, extra: readonly ResponseHeader[] = []) => ({
    description,
    headers: headerRefs([...COMMON_HEADERS, ...API_HEADERS, ...RATE_LIMIT_HEADERS, ...extra]),
    content: { 'application/json': { schema: graphqlResponse } },
  });
  const responses: Record<string, Json> = {
    200: {
      description: get ? 'The result' : 'The result, or for a batch the array of results',
      content: { 'application/json': { schema: get ? graphqlResponse : { oneOf: [graphqlResponse, { type: 'array', items: graphqlResponse }] } } },
    },
    400: refusal('A malformed request or an invalid document (`INVALID_INPUT`).'),
    401: refusal('A refused token (`UNAUTHORIZED`).', ['WWW-Authenticate']),
    429: refusal('A spent budget, requests or GraphQL cost points (`RATE_LIMITED`).', ['Retry-After']),
    500: refusal('A bug (`INTERNAL_ERROR`).'),
    503: {
      ...refusal('Starting or draining (problem+json), or a dependency unreachable (`SERVICE_UNAVAILABLE`).', ['Retry-After']),
      content: { 'application/json': { schema: graphqlResponse }, 'application/problem+json': { schema: ref('schemas', 'Problem') } },
    },
    504: refusal('The database took too long (`TIMEOUT`).'),
  };
  if (get) responses[405] = refusal('A mutation sent with GET (`METHOD_NOT_ALLOWED`).', ['Allow']);
  else {
    responses[413] = refusal('A body, document or variables over their limits (`PAYLOAD_TOO_LARGE`).');
    responses[415] = refusal('A body neither `application/json` nor `application/graphql` (`UNSUPPORTED_MEDIA_TYPE`).');
  }
  operation.responses = responses;
}
