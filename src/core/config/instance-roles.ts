/**
 * The roles of an instance (not the roles of users, services/roles): the parts one codebase
 * runs as (docs/architecture.md "Instance roles"). `api` serves REST, GraphQL and WebSocket,
 * `auth` serves /api/v1/auth/* (where argon2 spends its CPU), `worker` runs the background
 * work (the outbox relay, the notification and email consumers, retention). An instance runs
 * a set of them; all three at once is the single-process deployment.
 */
export const INSTANCE_ROLES = ['api', 'auth', 'worker'] as const;
export type InstanceRole = (typeof INSTANCE_ROLES)[number];

export const ALL_ROLES = INSTANCE_ROLES.join(',');

export interface ParsedRoles {
  roles: ReadonlySet<InstanceRole>;
  /** What is wrong with the text, phrased for an operator; empty when it is a valid set. */
  problems: string[];
}

const isRole = (name: string): name is InstanceRole => (INSTANCE_ROLES as readonly string[]).includes(name);

/** `api,worker` → the set; unknown names and an empty set are problems. Spaces and repeats are allowed. */
export function parseRoles(text: string): ParsedRoles {
  const names = text
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  const unknown = names.filter((name) => !isRole(name));
  const problems: string[] = [];
  if (unknown.length > 0)
    problems.push(`unknown role${unknown.length === 1 ? '' : 's'} ${unknown.map((n) => `"${n}"`).join(', ')}. Roles are ${INSTANCE_ROLES.join(', ')}.`);
  else if (names.length === 0)
    problems.push(`names no role. Name one or more of ${INSTANCE_ROLES.join(', ')}, comma-separated (all three: one process does everything).`);
  return { roles: new Set(names.filter(isRole)), problems };
}

/** The set in the canonical order (api, auth, worker), as the effective configuration and the logs show it. */
export function formatRoles(roles: ReadonlySet<InstanceRole>): string {
  return INSTANCE_ROLES.filter((role) => roles.has(role)).join(',');
}

/** The roles of a loaded (so valid) configuration. */
export function instanceRolesOf(config: { roles: string }): ReadonlySet<InstanceRole> {
  return parseRoles(config.roles).roles;
}

/** Whether this instance runs every role: the single-process deployment, which needs no shared store. */
export function runsAllRoles(roles: ReadonlySet<InstanceRole>): boolean {
  return INSTANCE_ROLES.every((role) => roles.has(role));
}

interface DeploymentSettings {
  roles: ReadonlySet<InstanceRole>;
  databaseUrl: string;
  redisUrl: string;
  queueUrl: string;
}

export interface RoleFindings {
  /** Sets that cannot work: the instance must not start (reported as configuration problems). */
  refusals: string[];
  /** Sets that work but weaker than an operator would expect. */
  warnings: string[];
}

/**
 * The rules for a split deployment (docs/architecture.md "Instance roles"). An instance that does not
 * run every role is one of several, and several processes share state only through shared
 * stores: the database (PostgreSQL, never the embedded PGlite, which one process owns), the
 * queue (events cross processes only through a broker) and, for sessions and budgets, Redis.
 */
export function roleFindings({ roles, databaseUrl, redisUrl, queueUrl }: DeploymentSettings): RoleFindings {
  const findings: RoleFindings = { refusals: [], warnings: [] };
  if (roles.size === 0 || runsAllRoles(roles)) return findings;
  const these = formatRoles(roles);
  const others = INSTANCE_ROLES.filter((role) => !roles.has(role)).join(', ');
  if (databaseUrl === '') {
    findings.refusals.push(
      roles.has('worker')
        ? `this instance runs ${these} and leaves ${others} to other instances, which cannot open this instance's embedded PGlite database. Set database.url to a PostgreSQL database they share, or run all three roles.`
        : `this instance runs ${these} and leaves the worker to another instance, which cannot open this instance's embedded PGlite database: nothing would relay its events or send its notifications. Set database.url to a PostgreSQL database they share, or run all three roles.`,
    );
  }
  if (queueUrl === '') {
    findings.refusals.push(
      roles.has('worker')
        ? `this instance runs ${these} and leaves ${others} to other instances, and without a broker the events this worker relays stay in its own process: no other instance's live subscribers would ever see a change. Set queue.url (NATS or Kafka), or run all three roles.`
        : `this instance runs ${these} and leaves the worker to another instance, and without a broker the events it relays would never reach this instance: its live subscribers would wait for ever and its cached copies would go stale. Set queue.url (NATS or Kafka), or run all three roles.`,
    );
  }
  if (redisUrl === '' && (roles.has('api') || roles.has('auth'))) {
    findings.warnings.push(
      `roles ${these} without redis.url (one of several instances): each instance keeps its own cache and its own rate-limit and login counters, so a revoked session may stay usable for up to a second on another instance and every budget is multiplied by the number of instances. Set redis.url for a deployment of several instances.`,
    );
  }
  return findings;
}
