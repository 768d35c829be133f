import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ALL_ROLES } from './instance-roles.js';

/**
 * The one schema of PCF API's configuration. Every key has one name per source, derived
 * from its path: `graphql.maxDepth` is `graphql.maxDepth` in a config file,
 * `PCF_GRAPHQL_MAX_DEPTH` in the environment and `--graphql-max-depth` on the command line.
 * Keys marked `secret` are redacted whenever the configuration is printed or logged.
 */
const ms = (description: string, def: number, max = 3_600_000, min = 1) => Type.Integer({ minimum: min, maximum: max, default: def, description });

export const ConfigSchema = Type.Object(
  {
    profile: Type.Union([Type.Literal('development'), Type.Literal('production')], {
      default: 'development',
      description:
        'development or production; production turns off introspection, GraphiQL, GraphQL suggestions and the first-registrant admin, and tightens timeouts',
    }),
    roles: Type.String({
      default: ALL_ROLES,
      maxLength: 100,
      description:
        'What this instance runs, comma-separated: api (REST, GraphQL, WebSocket), auth (/api/v1/auth/*: sign-up, sign-in, sessions, passwords, invitations), worker (outbox relay, notification and email consumers, retention); all three is one process doing everything. Fewer needs database.url and queue.url (shared with the instances running the rest)',
    }),
    host: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Interface the HTTP server binds to' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8080, description: 'HTTP port (0 picks a free one)' }),
    dataDir: Type.String({ minLength: 1, default: './data', description: 'Directory of the embedded PGlite database' }),
    logLevel: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info', description: 'Minimum log level' },
    ),
    database: Type.Object(
      {
        url: Type.String({
          default: '',
          pattern: '^(|postgres(ql)?://.+)$',
          secret: true,
          description: 'PostgreSQL connection URL; empty runs the embedded PGlite database under dataDir',
        }),
        poolMax: Type.Integer({ minimum: 1, maximum: 1000, default: 10, description: 'Maximum PostgreSQL connections per instance' }),
        connectTimeoutMs: ms('Time allowed to open one database connection', 5000, 120_000, 100),
        statementTimeoutMs: ms('Longest a single SQL statement may run (0 = no limit)', 30_000, 3_600_000, 0),
        preparedStatements: Type.Boolean({
          default: true,
          description:
            'Run the hot statements (the get and the create of a resource) as named prepared statements, planned once per connection; turn off behind a pooler that cannot carry them (PgBouncer in transaction mode before 1.21)',
        }),
        autoMigrate: Type.Boolean({
          default: true,
          description:
            'Apply pending migrations at start-up; when off, the server stays unready (503) until someone else (pcf migrate up, a Job) has applied them',
        }),
        retryInitialMs: ms('First wait before retrying an unreachable database at start-up; doubles each attempt', 1000, 600_000, 10),
        retryMaxMs: ms('Longest wait between start-up connection attempts', 60_000, 600_000, 10),
      },
      { additionalProperties: false, default: {} },
    ),
    redis: Type.Object(
      {
        url: Type.String({
          default: '',
          pattern: '^(|rediss?://.+)$',
          secret: true,
          description: 'Redis URL for the shared cache; empty uses an in-process cache',
        }),
        keyPrefix: Type.String({ default: 'pcf:', maxLength: 64, description: 'Prefix of every Redis key this instance writes' }),
      },
      { additionalProperties: false, default: {} },
    ),
    cache: Type.Object(
      {
        maxEntries: Type.Integer({
          minimum: 1,
          maximum: 10_000_000,
          default: 10_000,
          description: 'Entries the in-process cache holds before evicting the least recently used',
        }),
        defaultTtlMs: ms('Lifetime of a cache entry when its writer gives none', 60_000, 86_400_000),
      },
      { additionalProperties: false, default: {} },
    ),
    http: Type.Object(
      {
        bodyLimitBytes: Type.Integer({
          minimum: 1024,
          maximum: 104_857_600,
          default: 2_097_152,
          description: 'Largest request body accepted; larger answers 413',
        }),
        requestTimeoutMs: ms('Time allowed to receive a whole request', 60_000, 3_600_000, 1000),
        headersTimeoutMs: ms('Time allowed to receive the request line and headers (slow-header attacks)', 10_000, 600_000, 1000),
        proxyHeader: Type.Union([Type.Literal('x-forwarded-for'), Type.Literal('forwarded')], {
          default: 'x-forwarded-for',
          description:
            'The header the trusted proxies append the client address to: x-forwarded-for, or forwarded (RFC 7239); the other is ignored, since a client could have written it',
        }),
        corsOrigins: Type.String({
          default: '',
          maxLength: 4000,
          pattern: '^(|\\*|https?://[^\\s,/]+(, ?https?://[^\\s,/]+)*)$',
          description: 'Browser origins allowed to call the API (CORS): comma-separated, e.g. https://console.example.com; * for any; empty allows none',
        }),
        trustProxy: Type.String({
          default: '',
          maxLength: 2000,
          pattern: '^(|true|[0-9a-fA-F.:/]+(, ?[0-9a-fA-F.:/]+)*)$',
          description:
            'Proxies whose Forwarded or X-Forwarded-For header names the client (for rate limits, login limits, sessions and audit): comma-separated addresses or CIDRs, or true for any; empty trusts none',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    graphql: Type.Object(
      {
        introspection: Type.Boolean({ default: true, description: 'Allow schema introspection' }),
        graphiql: Type.Boolean({ default: true, description: 'Serve the GraphiQL IDE at /graphiql' }),
        maxDepth: Type.Integer({ minimum: 1, maximum: 100, default: 15, description: 'Deepest selection nesting allowed' }),
        maxComplexity: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000, description: 'Highest query cost allowed' }),
        maxAliases: Type.Integer({ minimum: 0, maximum: 1000, default: 15, description: 'Most aliases in one operation' }),
        maxBatch: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Most operations in one batched request' }),
        maxDocumentBytes: Type.Integer({ minimum: 256, maximum: 10_485_760, default: 102_400, description: 'Largest GraphQL document accepted' }),
        maxTokens: Type.Integer({
          minimum: 100,
          maximum: 1_000_000,
          default: 5000,
          description: 'Most lexical tokens in one GraphQL document; parsing stops beyond',
        }),
        maxSelections: Type.Integer({
          minimum: 10,
          maximum: 100_000,
          default: 250,
          description: 'Most field selections and fragment spreads in one GraphQL document, counted as written before validation',
        }),
        maxVariablesBytes: Type.Integer({
          minimum: 1024,
          maximum: 104_857_600,
          default: 1_179_648,
          description:
            'Largest variables of one GraphQL request (all operations of a batch together), in bytes of JSON; keep it above resources.maxDataBytes plus 64 KiB of metadata',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    auth: Type.Object(
      {
        registration: Type.Union([Type.Literal('open'), Type.Literal('invite'), Type.Literal('closed')], {
          default: 'open',
          description: 'Who may register: anyone (open), holders of an invitation (invite), or nobody (closed; admins create users)',
        }),
        firstUserAdmin: Type.Boolean({
          default: true,
          description: 'The first account to register becomes an admin (off in production: the first admin comes from pcf users create --admin)',
        }),
        sessionTtlMs: ms('Absolute lifetime of a session, however active', 604_800_000, 31_536_000_000, 60_000),
        sessionIdleTimeoutMs: ms('A session unused for this long expires', 86_400_000, 31_536_000_000, 60_000),
        invitationTtlMs: ms('Lifetime of an invitation to register', 604_800_000, 31_536_000_000, 60_000),
        cacheTtlMs: ms('How long a session and its principal stay cached; revocation clears them at once', 60_000, 3_600_000, 1000),
        argon2MemoryKib: Type.Integer({
          minimum: 19_456,
          maximum: 4_194_304,
          default: 19_456,
          description: 'argon2id memory per password hash, in KiB (OWASP minimum 19456); raising it rehashes passwords at their next login',
        }),
        argon2Iterations: Type.Integer({ minimum: 2, maximum: 100, default: 2, description: 'argon2id passes per password hash (OWASP minimum 2)' }),
        loginMaxFailures: Type.Integer({
          minimum: 1,
          maximum: 1000,
          default: 5,
          description:
            'Sign-in attempts allowed per account from one client address (IPv6: its /64) within loginFailureWindowMs, counted before the password is checked and cleared by a success, before that address gets 429 for that account',
        }),
        loginMaxFailuresPerAccount: Type.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 100,
          description:
            'Failed logins allowed per account from all addresses within loginFailureWindowMs; past it only addresses that signed in to the account before may try',
        }),
        loginMaxFailuresPerIp: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 50,
          description: 'Failed logins allowed per client IP within loginFailureWindowMs before 429',
        }),
        loginFailureWindowMs: ms('Window over which failed logins are counted', 900_000, 86_400_000, 1000),
      },
      { additionalProperties: false, default: {} },
    ),
    resources: Type.Object(
      {
        maxDataBytes: Type.Integer({
          minimum: 1024,
          maximum: 104_857_600,
          default: 1_048_576,
          description: 'Largest resource data accepted, in bytes of JSON (keep http.bodyLimitBytes above it)',
        }),
        cacheTtlMs: ms('How long a resource read stays cached; every change invalidates it at once', 60_000, 3_600_000, 1000),
        maxVersions: Type.Integer({
          minimum: 1,
          maximum: 2_147_483_647,
          default: 10_000,
          description: 'Most versions one resource may have; a write past it is refused with 422',
        }),
        maxSharesPerResource: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 100,
          description: 'Users one resource may be shared with; one more is refused with 409 CONFLICT',
        }),
        maxSharesPerUser: Type.Integer({
          minimum: 1,
          maximum: 1_000_000,
          default: 1000,
          description: 'Shares one user may receive, a tenth of them from the resources of one owner; one more is refused with 409 CONFLICT',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    quotas: Type.Object(
      {
        storageBytesPerUser: Type.Integer({
          minimum: 0,
          maximum: Number.MAX_SAFE_INTEGER,
          default: 268_435_456,
          description:
            "Bytes the resources a user owns may hold (every version's data plus metadata and name as JSON/UTF-8, plus 256 per resource and per version); a write past it is refused with 422; 0 = unlimited",
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    rateLimit: Type.Object(
      {
        enabled: Type.Boolean({ default: true, description: 'Apply the request budgets below (PCF_REDIS_URL makes them shared by every instance)' }),
        windowSeconds: Type.Integer({ minimum: 1, maximum: 86_400, default: 60, description: 'Length of the fixed window every budget below counts over' }),
        anonymousPerWindow: Type.Integer({
          minimum: 1,
          maximum: 100_000_000,
          default: 300,
          description: 'Requests per window from one client IP without a token (and bad-token attempts)',
        }),
        userPerWindow: Type.Integer({
          minimum: 1,
          maximum: 100_000_000,
          default: 1200,
          description: 'Requests per window from one signed-in user, across all its sessions',
        }),
        authPerWindow: Type.Integer({
          minimum: 1,
          maximum: 100_000_000,
          default: 20,
          description:
            'Login, register and password-change attempts per window, per client IP (per user for password changes); refused while a shared store is unreachable',
        }),
        redisTimeoutMs: ms(
          'Longest a charge waits for Redis before counting in this instance (or refusing, for the auth budget); repeated failures open a 2 s circuit breaker',
          500,
          10_000,
          10,
        ),
        bodyBytesPerWindow: Type.Integer({
          minimum: 1_048_576,
          maximum: Number.MAX_SAFE_INTEGER,
          default: 33_554_432,
          description:
            'Bytes of request bodies per window from one signed-in user (per client IP when anonymous): parsing, checking and storing a body costs time in proportion to its size; a body of unknown length (chunked) counts as http.bodyLimitBytes',
        }),
        graphqlPointsPerWindow: Type.Integer({
          minimum: 1,
          maximum: 1_000_000_000,
          default: 50_000,
          description: 'GraphQL cost points per window per user (per client IP when anonymous); each operation is charged its computed cost',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    queue: Type.Object(
      {
        url: Type.String({
          default: '',
          maxLength: 2000,
          pattern: '^(|(nats|kafka)://.+)$',
          secret: true,
          description:
            'Message queue between instances: nats://host:4222 (NATS JetStream; credentials as nats://user:password@host or nats://token@host) or kafka://host:9092 (no credentials), several brokers comma-separated; empty keeps events in this process',
        }),
        name: Type.String({
          default: 'pcf-events',
          pattern: '^[A-Za-z0-9_-]{1,100}$',
          description: 'The NATS stream (and subject prefix) or Kafka topic that holds the events',
        }),
        retentionMs: ms('How long the broker keeps published events', 604_800_000, 31_536_000_000, 60_000),
      },
      { additionalProperties: false, default: {} },
    ),
    events: Type.Object(
      {
        pollIntervalMs: ms(
          'How often the outbox relay looks for unpublished events when no local change nudges it (changes made by other instances)',
          1000,
          60_000,
          10,
        ),
        batchSize: Type.Integer({ minimum: 1, maximum: 10_000, default: 100, description: 'Outbox rows published per relay transaction' }),
        retentionMs: ms('How long published events stay in the outbox; also the replay window of resourceChanged(after:)', 86_400_000, 2_592_000_000, 60_000),
        maxBackoffMs: ms('Longest wait between relay attempts while the queue is unreachable', 30_000, 600_000, 100),
      },
      { additionalProperties: false, default: {} },
    ),
    notifications: Type.Object(
      {
        retentionMs: ms(
          'Notifications older than this are deleted (read or not); also the replay window of notificationReceived(after:)',
          7_776_000_000,
          31_536_000_000,
          3_600_000,
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    mail: Type.Object(
      {
        smtpUrl: Type.String({
          default: '',
          maxLength: 2000,
          pattern: '^(|smtps?://.+)$',
          secret: true,
          description: 'SMTP server for email notifications: smtp://user:pass@host:587 (STARTTLS) or smtps://host:465; empty sends no email',
        }),
        from: Type.String({ default: 'PCF API <no-reply@localhost>', minLength: 3, maxLength: 300, description: 'Sender of notification emails' }),
      },
      { additionalProperties: false, default: {} },
    ),
    websocket: Type.Object(
      {
        maxConnectionsPerUser: Type.Integer({
          minimum: 1,
          maximum: 100_000,
          default: 20,
          description: 'Open WebSocket connections per user (per client IP when anonymous) on one instance',
        }),
        initTimeoutMs: ms('Time a new WebSocket connection gets to send connection_init before it is closed (4408)', 10_000, 600_000, 100),
        keepAliveMs: ms('Interval of the ping frames that keep idle sockets open through proxies and find dead peers', 15_000, 600_000, 100),
        maxSubscriptionsPerConnection: Type.Integer({
          minimum: 1,
          maximum: 10_000,
          default: 50,
          description:
            'Operations one WebSocket connection may have running at once (subscriptions included); another is refused with RATE_LIMITED until one ends',
        }),
        authCheckIntervalMs: ms(
          'How often open sockets re-check their session (at most 4 s, so a revoked session closes with 4403 within 5 s); access taken away is acted on at once',
          2000,
          4000,
          100,
        ),
      },
      { additionalProperties: false, default: {} },
    ),
    console: Type.Object(
      {
        enabled: Type.Boolean({
          default: true,
          description: 'Serve the web console at /console/ (and redirect / to it) on instances with the api role',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    metrics: Type.Object(
      {
        token: Type.String({
          default: '',
          pattern: '^(|[\\x21-\\x7e]{16,1000})$',
          secret: true,
          description: 'Bearer token /metrics requires (Authorization: Bearer <token>), at least 16 visible ASCII characters; empty leaves /metrics open',
        }),
      },
      { additionalProperties: false, default: {} },
    ),
    health: Type.Object(
      {
        checkTimeoutMs: ms('Time each readiness check may take before it counts as failed', 2000, 4500, 50),
      },
      { additionalProperties: false, default: {} },
    ),
    shutdown: Type.Object(
      {
        drainTimeoutMs: ms('Time in-flight requests get to finish after SIGTERM', 30_000, 30_000, 0),
      },
      { additionalProperties: false, default: {} },
    ),
  },
  { additionalProperties: false },
);

export type Config = Static<typeof ConfigSchema>;
export type Profile = Config['profile'];

type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
export type PartialConfig = DeepPartial<Config>;

/** Defaults that differ by profile; applied under every other source. */
export const PROFILE_DEFAULTS: Record<Profile, PartialConfig> = {
  development: {},
  production: {
    graphql: { introspection: false, graphiql: false },
    // On a public server the first stranger to register would own it.
    auth: { firstUserAdmin: false },
    http: { requestTimeoutMs: 30_000 },
    database: { statementTimeoutMs: 15_000 },
  },
};

/** One configuration key, with its name in every source. */
export interface ConfigKey {
  path: string;
  env: string;
  flag: string;
  schema: TSchema;
  secret: boolean;
}

const snake = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
const kebab = (s: string) => s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

function collectKeys(schema: TSchema, prefix: string[]): ConfigKey[] {
  if (schema.type === 'object' && schema.properties) {
    return Object.entries(schema.properties as Record<string, TSchema>).flatMap(([name, child]) => collectKeys(child, [...prefix, name]));
  }
  return [
    {
      path: prefix.join('.'),
      env: `PCF_${prefix.map(snake).join('_')}`,
      flag: `--${prefix.map(kebab).join('-')}`,
      schema,
      secret: schema.secret === true,
    },
  ];
}

/** Every leaf key of the schema, in declaration order. */
export const CONFIG_KEYS: readonly ConfigKey[] = Object.freeze(collectKeys(ConfigSchema, []));
