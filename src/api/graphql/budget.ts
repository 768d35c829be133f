import {
  getOperationAST,
  Kind,
  type DocumentNode,
  type ExecutionResult,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import type { Config } from '../../core/config/index.js';
import { appError } from '../../core/errors.js';
import type { Charge } from '../../infra/rate-limit/index.js';
import type { Principal } from '../../services/auth/principals.js';
import type { ClientInfo } from '../../services/auth/sessions.js';
import { addressKey } from '../../core/net.js';
import { userKey, type ChargeItem, type RateLimits } from '../gateway/rate-limit.js';
import { operationCost, writeCost } from './cost.js';

/** What the budget needs from an operation's context, over HTTP or WebSocket. */
export interface BudgetContext {
  readonly principal: Principal | undefined;
  readonly client: ClientInfo;
  /** The HTTP response, whose request the gateway already charged; absent over WebSocket. */
  readonly reply?: unknown;
}

/** What an operation was charged: its points, and what is left of the budget. */
export interface Spent {
  cost: number;
  charge: Charge | undefined;
}

/**
 * Root fields that try a password or create an account: they spend the strict auth budget,
 * login and register per client address (whoever is signed in), a password change per user.
 */
const BY_ADDRESS = new Set(['login', 'register']);
const BY_USER = new Set(['changePassword']);
/** Charged to the auth budget, so not again as writes. */
const AUTH_FIELDS: ReadonlySet<string> = new Set([...BY_ADDRESS, ...BY_USER]);

interface AuthAttempts {
  byAddress: number;
  byUser: number;
}

function authAttempts(document: DocumentNode, set: SelectionSetNode, into: AuthAttempts = { byAddress: 0, byUser: 0 }, seen = new Set<string>()): AuthAttempts {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (BY_ADDRESS.has(selection.name.value)) into.byAddress++;
      if (BY_USER.has(selection.name.value)) into.byUser++;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      authAttempts(document, selection.selectionSet, into, seen);
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) authAttempts(document, fragment.selectionSet, into, seen);
    }
  }
  return into;
}

/** What a document costs and tries, for one operation name: computed once per document. */
interface DocumentShape {
  /** The operations it may run: the named one, or, without a name (WebSocket), all. */
  operations: OperationDefinitionNode[];
  /** The cost, when no page size comes from a variable; else computed per request. */
  cost: number | undefined;
  attempts: AuthAttempts;
  /** Whether it may write: only mutations are weighed by writeCost, per request. */
  writes: boolean;
}

// The document cache (documents.ts) hands back the same DocumentNode for the same query
// text: the walk over it is done once, not per request.
const shapes = new WeakMap<DocumentNode, Map<string | undefined, DocumentShape | null>>();
const MAX_NAMES_PER_DOCUMENT = 32;

function documentShape(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): DocumentShape | null {
  let byName = shapes.get(document);
  if (!byName) shapes.set(document, (byName = new Map()));
  let shape = byName.get(operationName);
  if (shape === undefined) {
    // Without a usable name (graphql-js refuses the operation then), a document of several
    // operations is charged for the dearest of them.
    const chosen = getOperationAST(document, operationName) ?? null;
    const operations = chosen ? [chosen] : document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    if (operations.length === 0) {
      shape = null;
    } else {
      const costs = operations.map((operation) => operationCost(schema, document, operation, undefined));
      const attempts = operations.map((operation) => authAttempts(document, operation.selectionSet));
      shape = {
        operations,
        cost: costs.some((c) => c.dependsOnVariables) ? undefined : Math.max(...costs.map((c) => c.cost)),
        attempts: { byAddress: Math.max(...attempts.map((a) => a.byAddress)), byUser: Math.max(...attempts.map((a) => a.byUser)) },
        writes: operations.some((operation) => operation.operation === 'mutation'),
      };
    }
    // Names that match no operation are refused by graphql-js, and are not worth keeping;
    // a document's names are few, so the map stays small.
    if ((chosen !== null || operationName === undefined) && byName.size < MAX_NAMES_PER_DOCUMENT) byName.set(operationName, shape);
  }
  return shape;
}

/**
 * Runs before an operation executes (after parsing and validation), over HTTP and over
 * WebSocket: refuses a document that costs more than `graphql.maxComplexity` (400), then
 * charges its cost, and what its writes weigh (`writeCost`), to the caller's points budget,
 * each login, register or password change to the auth budget, and, over WebSocket, where the
 * upgrade was the only HTTP request, the operation itself to the request budget (429 past
 * any, 503 while the auth budget's store is down).
 */
export function operationBudget(limits: Config['graphql'], rateLimits: RateLimits | undefined) {
  return async function chargeOperation(
    schema: GraphQLSchema,
    document: DocumentNode,
    context: BudgetContext,
    variables: Record<string, unknown> | undefined,
    operationName: string | undefined,
  ): Promise<Spent | undefined> {
    const shape = documentShape(schema, document, operationName);
    if (!shape) return undefined; // graphql-js reports the missing operation itself.
    const cost = shape.cost ?? Math.max(...shape.operations.map((operation) => operationCost(schema, document, operation, variables).cost));
    if (cost > limits.maxComplexity) {
      throw appError('INVALID_INPUT', `Query Cost limit of ${limits.maxComplexity} exceeded, found ${cost}.`);
    }
    // Writes are weighed with the request's variables (their size is part of the price).
    const points = shape.writes ? cost + Math.max(...shape.operations.map((operation) => writeCost(document, operation, variables, AUTH_FIELDS))) : cost;
    if (!rateLimits) return { cost: points, charge: undefined };
    const principal = context.principal;
    const { byAddress, byUser } = shape.attempts;
    // The address is the key only of anonymous callers and of login and register.
    const address = !principal || byAddress > 0 ? addressKey(context.client.ip ?? '') : '';
    const caller = principal ? userKey(principal) : address;
    const items: ChargeItem[] = [{ limiter: rateLimits.graphql, key: caller, points: Math.max(1, points), refundRefused: true }];
    if (byAddress > 0) items.push({ limiter: rateLimits.auth, key: address, points: byAddress });
    if (byUser > 0) items.push({ limiter: rateLimits.auth, key: caller, points: byUser });
    if (!context.reply) items.push(principal ? { limiter: rateLimits.user, key: caller } : { limiter: rateLimits.anonymous, key: address });
    // Past a budget: RATE_LIMITED with Retry-After and RateLimit headers, which the HTTP
    // response carries (graphql/errors.ts refusalHeaders).
    const [spent] = await rateLimits.charge(undefined, ...items);
    return { cost: points, charge: spent };
  };
}

export type ChargeOperation = ReturnType<typeof operationBudget>;

/**
 * Reports what the operation cost and what is left, in the response's `extensions`:
 * `{ cost: { requested, remaining, limit, resetSeconds } }` (`remaining` and the rest only
 * while rate limiting is on).
 */
export function reportCost(execution: ExecutionResult, spent: Spent | undefined): void {
  if (!spent) return;
  const report: Record<string, number> = { requested: spent.cost };
  if (spent.charge) {
    report.remaining = spent.charge.remaining;
    report.limit = spent.charge.quota.points;
    report.resetSeconds = Math.max(1, Math.ceil(spent.charge.resetMs / 1000));
  }
  (execution as { extensions?: Record<string, unknown> }).extensions = { ...execution.extensions, cost: report };
}
