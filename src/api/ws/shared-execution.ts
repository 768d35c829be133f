import {
  createSourceEventStream,
  execute,
  getNamedType,
  getOperationAST,
  isObjectType,
  Kind,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLObjectType,
  type GraphQLSchema,
  type SelectionSetNode,
} from 'graphql';
import { eventAsIs } from '../graphql/subscriptions.js';

type Result = ExecutionResult | Promise<ExecutionResult>;

/** Results by event, then by document, then by operation name and variables. */
const results = new WeakMap<object, WeakMap<DocumentNode, Map<string, Result>>>();
/** Whether a document's operation reads nothing but the event, by schema and document. */
const eventOnly = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, Map<string, boolean>>>();

/**
 * graphql-js's `subscribe`, but an event whose result depends on nothing but the event itself
 * is executed once for every subscriber with the same document and variables: at 1,000
 * subscribers of one resource, one execution per event instead of 1,000. It applies only to
 * events handed to every subscriber as one object (the live feeds do so) and to operations
 * that read no field with a resolver of its own (which could read the caller, as
 * `ResourceChange.resource` does); any other subscription runs as graphql-js runs it.
 */
export async function subscribeSharing(args: ExecutionArgs): Promise<AsyncGenerator<ExecutionResult> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!isAsyncIterable(source)) return source;
  const run = (event: unknown): Result => execute({ ...args, rootValue: event });
  if (!dependsOnEventOnly(args.schema, args.document, args.operationName ?? undefined)) return mapEvents(source, run);
  const key = `${args.operationName ?? ''}\n${JSON.stringify(args.variableValues ?? {})}`;
  return mapEvents(source, (event) => {
    if (typeof event !== 'object' || event === null) return run(event);
    let byDocument = results.get(event);
    if (!byDocument) results.set(event, (byDocument = new WeakMap()));
    let byKey = byDocument.get(args.document);
    if (!byKey) byDocument.set(args.document, (byKey = new Map()));
    let result = byKey.get(key);
    if (!result) byKey.set(key, (result = run(event)));
    return result;
  });
}

/**
 * Whether the operation's result is a function of its event (and variables) alone: every
 * field it selects, through fragments, resolves by reading its parent (no resolver of its
 * own), but for the subscription field itself, which must hand the event on as is.
 */
export function dependsOnEventOnly(schema: GraphQLSchema, document: DocumentNode, operationName: string | undefined): boolean {
  let byDocument = eventOnly.get(schema);
  if (!byDocument) eventOnly.set(schema, (byDocument = new WeakMap()));
  let byName = byDocument.get(document);
  if (!byName) byDocument.set(document, (byName = new Map()));
  const name = operationName ?? '';
  let answer = byName.get(name);
  if (answer === undefined) {
    const operation = getOperationAST(document, operationName);
    const root = schema.getSubscriptionType();
    answer = operation?.operation === 'subscription' && root !== null && root !== undefined && readsParentOnly(document, root, operation.selectionSet, true);
    byName.set(name, answer);
  }
  return answer;
}

function readsParentOnly(document: DocumentNode, type: GraphQLObjectType, selections: SelectionSetNode, isRoot = false): boolean {
  const fields = type.getFields();
  return selections.selections.every((selection) => {
    switch (selection.kind) {
      case Kind.FIELD: {
        if (selection.name.value === '__typename') return true;
        const field = fields[selection.name.value];
        if (!field) return false;
        const ownResolver = isRoot ? field.resolve !== eventAsIs : field.resolve !== undefined;
        if (ownResolver) return false;
        if (!selection.selectionSet) return true;
        const named = getNamedType(field.type);
        return isObjectType(named) && readsParentOnly(document, named, selection.selectionSet);
      }
      case Kind.INLINE_FRAGMENT:
        return (
          (selection.typeCondition === undefined || selection.typeCondition.name.value === type.name) &&
          readsParentOnly(document, type, selection.selectionSet, isRoot)
        );
      case Kind.FRAGMENT_SPREAD: {
        const fragment = document.definitions.find((d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value);
        return (
          fragment?.kind === Kind.FRAGMENT_DEFINITION &&
          fragment.typeCondition.name.value === type.name &&
          readsParentOnly(document, type, fragment.selectionSet, isRoot)
        );
      }
    }
  });
}

/**
 * The source's events mapped through `map`, as graphql-js maps them (its helper is
 * internal): return() and throw() reach the source, which ends its live feed at once.
 */
function mapEvents(source: AsyncIterable<unknown>, map: (event: unknown) => Result): AsyncGenerator<ExecutionResult> {
  const events = source[Symbol.asyncIterator]();
  const mapped = async (step: IteratorResult<unknown>): Promise<IteratorResult<ExecutionResult>> => {
    if (step.done) return { done: true, value: undefined };
    try {
      return { done: false, value: await map(step.value) };
    } catch (err) {
      await events.return?.().catch(() => undefined);
      throw err;
    }
  };
  const generator: AsyncGenerator<ExecutionResult> = {
    next: async () => mapped(await events.next()),
    return: async () => (events.return ? mapped(await events.return()) : { done: true, value: undefined }),
    throw: async (err: unknown) => {
      if (events.throw) return mapped(await events.throw(err));
      throw err;
    },
    [Symbol.asyncIterator]: () => generator,
  };
  return generator;
}

const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> => typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
