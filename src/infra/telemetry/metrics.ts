import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Prometheus metrics of one server instance. Every label has a bounded set of values by
 * construction: HTTP routes are templates (never raw paths), methods and status classes are
 * closed sets, and GraphQL operation names are capped.
 */
export interface Metrics {
  readonly registry: Registry;
  observeHttp(method: string, route: string, statusCode: number, seconds: number): void;
  observeGraphql(type: string, name: string | undefined, seconds: number): void;
  /**
   * One rate-limit decision: `allowed`, `limited` (429), `fallback` (allowed, but counted in
   * this instance alone because the shared store is unreachable) or `unavailable` (refused
   * with 503: a fail-closed budget without its store).
   */
  observeRateLimit(budget: string, outcome: 'allowed' | 'limited' | 'fallback' | 'unavailable'): void;
  /** The Prometheus text exposition of every metric. */
  render(): Promise<string>;
  readonly contentType: string;
}

export interface MetricsOptions {
  /** Reads the database pool's state when metrics are scraped. */
  poolStats: () => { total: number; idle: number; waiting: number };
  /** Live subscriptions (resource and notification feeds) on this instance, when scraped. */
  liveSubscriptions?: () => number;
  /** Compiled permission abilities kept on this instance (at most one per user), when scraped. */
  compiledAbilities?: () => number;
  /** Distinct GraphQL operation names tracked before the rest count as "other". */
  maxOperationNames?: number;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
const OPERATION_TYPES = new Set(['query', 'mutation', 'subscription']);
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;
// Buckets from 1 ms to 10 s: the contract's p99 targets sit at 10-50 ms.
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const httpRequests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route template and status class',
    labelNames: ['method', 'route', 'status_class'] as const,
    registers: [registry],
  });
  const httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to sending its response',
    labelNames: ['method', 'route', 'status_class'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  const graphqlOperations = new Counter({
    name: 'graphql_operations_total',
    help: 'GraphQL operations executed, by type and operation name (capped)',
    labelNames: ['type', 'name'] as const,
    registers: [registry],
  });
  const graphqlDuration = new Histogram({
    name: 'graphql_operation_duration_seconds',
    help: 'Time spent executing GraphQL operations',
    labelNames: ['type', 'name'] as const,
    buckets: BUCKETS,
    registers: [registry],
  });
  const rateLimitDecisions = new Counter({
    name: 'rate_limit_decisions_total',
    help: 'Rate-limit decisions by budget and outcome (fallback: counted per instance while the shared store is unreachable)',
    labelNames: ['budget', 'outcome'] as const,
    registers: [registry],
  });
  // Every request is observed: its label set's children are bound once, not hashed twice per request.
  const httpChildren = new Map<string, { requests: ReturnType<typeof httpRequests.labels>; duration: ReturnType<typeof httpDuration.labels> }>();
  // Budgets and outcomes are closed sets: the children are bound once, off the hot path.
  const rateLimitChildren = new Map<string, ReturnType<typeof rateLimitDecisions.labels>>();
  new Gauge({
    name: 'db_pool_connections',
    help: 'Database pool connections by state (total, idle, waiting requests)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const stats = options.poolStats();
      this.set({ state: 'total' }, stats.total);
      this.set({ state: 'idle' }, stats.idle);
      this.set({ state: 'waiting' }, stats.waiting);
    },
  });

  const liveSubscriptions = options.liveSubscriptions;
  if (liveSubscriptions) {
    new Gauge({
      name: 'live_subscriptions',
      help: 'Subscriptions (resourceChanged, notificationReceived) receiving live events on this instance',
      registers: [registry],
      collect() {
        this.set(liveSubscriptions());
      },
    });
  }

  const compiledAbilities = options.compiledAbilities;
  if (compiledAbilities) {
    new Gauge({
      name: 'compiled_abilities',
      help: 'Permission abilities compiled and kept on this instance: at most one per user, replaced when its grants change',
      registers: [registry],
      collect() {
        this.set(compiledAbilities());
      },
    });
  }

  const maxNames = options.maxOperationNames ?? 100;
  const knownNames = new Set<string>();
  const operationName = (name: string | undefined): string => {
    if (!name) return 'anonymous';
    if (!OPERATION_NAME.test(name)) return 'invalid';
    if (knownNames.has(name)) return name;
    if (knownNames.size >= maxNames) return 'other';
    knownNames.add(name);
    return name;
  };

  return {
    registry,
    contentType: registry.contentType,
    observeHttp(method, route, statusCode, seconds) {
      const m = METHODS.has(method) ? method : 'OTHER';
      const statusClass = `${Math.min(5, Math.max(1, Math.floor(statusCode / 100)))}xx`;
      // Routes are templates (and 'unmatched'), so the label sets, and this map, stay bounded.
      const key = `${m} ${statusClass} ${route}`;
      let children = httpChildren.get(key);
      if (!children) {
        const labels = { method: m, route, status_class: statusClass };
        httpChildren.set(key, (children = { requests: httpRequests.labels(labels), duration: httpDuration.labels(labels) }));
      }
      children.requests.inc();
      children.duration.observe(seconds);
    },
    observeGraphql(type, name, seconds) {
      const labels = { type: OPERATION_TYPES.has(type) ? type : 'unknown', name: operationName(name) };
      graphqlOperations.inc(labels);
      graphqlDuration.observe(labels, seconds);
    },
    observeRateLimit(budget, outcome) {
      const key = `${budget}\0${outcome}`;
      let child = rateLimitChildren.get(key);
      if (!child) rateLimitChildren.set(key, (child = rateLimitDecisions.labels(budget, outcome)));
      child.inc();
    },
    render: () => registry.metrics(),
  };
}
