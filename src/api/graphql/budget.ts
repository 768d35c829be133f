import { getOperationAST, Kind, type DocumentNode, type ExecutionResult, type GraphQLSchema, type SelectionSetNode } from 'graphql';
import type { Config } from '../../core/config/index.js';
import { appError, isAppError } from '../../core/errors.js';
import type { Charge } from '../../infra/rate-limit/index.js';
import type { Principal } from '../../services/auth/principals.js';
import type { ClientInfo } from '../../services/auth/sessions.js';
import { callerKey, type RateLimits } from '../gateway/rate-limit.js';
import { operationCost } from './cost.js';

/** What the budget hooks need from a mercurius context, over HTTP or WebSocket. */
export interface BudgetContext {
  caller(): Promise<Principal | undefined>;
  client: ClientInfo;
  reply?: { header(name: string, value: string): unknown };
  [charged]?: { cost: number; charge: Charge | undefined };
}

const charged = Symbol('graphqlCharge');

/** Root fields that try a password or create an account: they spend the strict auth budget. */
const AUTH_FIELDS = new Set(['login', 'register', 'changePassword']);

function authAttempts(document: DocumentNode, set: SelectionSetNode, seen = new Set<string>()): number {
  let count = 0;
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      if (AUTH_FIELDS.has(selection.name.value)) count++;
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      count += authAttempts(document, selection.selectionSet, seen);
    } else if (!seen.has(selection.name.value)) {
      seen.add(selection.name.value);
      const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
      if (fragment?.kind === Kind.FRAGMENT_DEFINITION) count += authAttempts(document, fragment.selectionSet, seen);
    }
  }
  return count;
}

/**
 * Runs before an operation executes (after parsing and validation), over HTTP and over
 * WebSocket: refuses a document that costs more than `graphql.maxComplexity` (400), then
 * charges its cost to the caller's points budget and each login, register or password
 * change to the auth budget (429 past either, 503 while the auth budget's store is down).
 */
export function operationBudget(limits: Config['graphql'], rateLimits: RateLimits | undefined) {
  return async function chargeOperation(schema: GraphQLSchema, document: DocumentNode, context: BudgetContext, variables: Record<string, unknown> | undefined, operationName: string | undefined): Promise<void> {
    // Over WebSocket mercurius does not pass the operation's name on: a document of several
    // operations is then charged for the dearest of them.
    const chosen = getOperationAST(document, operationName);
    const operations = chosen ? [chosen] : document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
    if (operations.length === 0) return;
    const cost = Math.max(...operations.map((operation) => operationCost(schema, document, operation, variables)));
    if (cost > limits.maxComplexity) {
      throw appError('INVALID_INPUT', `Query Cost limit of ${limits.maxComplexity} exceeded, found ${cost}.`);
    }
    if (!rateLimits) {
      context[charged] = { cost, charge: undefined };
      return;
    }
    // A token revoked since the socket opened is refused by the resolvers, with the usual
    // error; the operation is charged to the client's address meanwhile.
    const principal = await context.caller().catch(() => undefined);
    const key = callerKey(principal, context.client.ip ?? '');
    try {
      const attempts = Math.max(...operations.map((operation) => authAttempts(document, operation.selectionSet)));
      if (attempts > 0) await rateLimits.charge(rateLimits.auth, key, attempts);
      context[charged] = { cost, charge: await rateLimits.charge(rateLimits.graphql, key, Math.max(1, cost)) };
    } catch (err) {
      // Retry-After and the RateLimit headers, where there is an HTTP response to carry them.
      if (isAppError(err) && err.headers && context.reply) {
        for (const [name, value] of Object.entries(err.headers)) context.reply.header(name, value);
      }
      throw err;
    }
  };
}

/**
 * Reports what the operation cost and what is left, in the response's `extensions`:
 * `{ cost: { requested, remaining, limit, resetSeconds } }` (`remaining` and the rest only
 * while rate limiting is on).
 */
export function reportCost(execution: ExecutionResult, context: BudgetContext): void {
  const spent = context[charged];
  if (!spent) return;
  const report: Record<string, number> = { requested: spent.cost };
  if (spent.charge) {
    report.remaining = spent.charge.remaining;
    report.limit = spent.charge.quota.points;
    report.resetSeconds = Math.max(1, Math.ceil(spent.charge.resetMs / 1000));
  }
  (execution as { extensions?: Record<string, unknown> }).extensions = { ...execution.extensions, cost: report };
}
