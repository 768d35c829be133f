import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildSchema, parse, type DocumentNode, type ExecutionResult, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { eventAsIs } from '../../src/api/graphql/subscriptions.js';
import { dependsOnEventOnly, subscribeSharing } from '../../src/api/ws/shared-execution.js';

/**
 * Subscriptions whose result depends on the event alone are executed once per event for all
 * their subscribers; any field with a resolver of its own (which may read the caller) keeps
 * execution per subscriber.
 */

function schemaWith(source: () => AsyncIterable<unknown>): GraphQLSchema {
  const schema = buildSchema(`
    type Query { ok: Boolean }
    type Change { id: ID! kind: String! owner: String detail: Detail }
    type Detail { note: String }
    type Subscription { changed(id: ID!): Change! other: Change! }
  `);
  const fields = schema.getSubscriptionType()!.getFields();
  fields.changed!.subscribe = source;
  fields.changed!.resolve = eventAsIs;
  // Handed on as it is, but not with eventAsIs: the analysis cannot know what it does.
  fields.other!.subscribe = source;
  fields.other!.resolve = (event: unknown) => event;
  // A resolver of its own, as one reading the caller would be.
  (schema.getType('Change') as GraphQLObjectType).getFields().owner!.resolve = (_change, _args, context: { user: string }) => context.user;
  return schema;
}

/** An event that counts how often its `kind` is read, i.e. how often it is executed. */
function countingEvent(id: string): { event: object; reads: () => number } {
  let reads = 0;
  const event = {
    id,
    get kind() {
      reads++;
      return 'UPDATED';
    },
    detail: { note: 'n' },
  };
  return { event, reads: () => reads };
}

/**
 * A source that yields these events, then waits until returned (as a live feed does: its
 * return() ends a pending next()); records whether it was.
 */
function sourceOf(events: object[]) {
  const state = { returned: false };
  const source = (): AsyncIterableIterator<unknown> => {
    const queue = [...events];
    let wake: ((step: IteratorResult<unknown>) => void) | undefined;
    const iterator: AsyncIterableIterator<unknown> = {
      next: () => (queue.length > 0 ? Promise.resolve({ done: false, value: queue.shift() }) : new Promise((resolve) => (wake = resolve))),
      return: () => {
        state.returned = true;
        wake?.({ done: true, value: undefined });
        return Promise.resolve({ done: true, value: undefined });
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  };
  return { source, state };
}

/** Results as they travel (graphql-js builds them on null-prototype objects). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** Documents parsed once, as the WebSocket handler's cache of valid documents gives them. */
const documents = new Map<string, DocumentNode>();
const documentOf = (query: string): DocumentNode => {
  let document = documents.get(query);
  if (!document) documents.set(query, (document = parse(query)));
  return document;
};

const subscribe = async (schema: GraphQLSchema, query: string, variables: Record<string, unknown>, user: string) => {
  const result = await subscribeSharing({ schema, document: documentOf(query), variableValues: variables, contextValue: { user } });
  assert.ok(Symbol.asyncIterator in result, JSON.stringify(result));
  return result as AsyncGenerator<ExecutionResult>;
};

describe('shared execution of subscriptions', () => {
  const schema = schemaWith(sourceOf([]).source);

  it('knows which operations read nothing but their event', () => {
    const yes = (query: string) => assert.equal(dependsOnEventOnly(schema, parse(query), undefined), true, query);
    const no = (query: string) => assert.equal(dependsOnEventOnly(schema, parse(query), undefined), false, query);
    yes('subscription { changed(id: "1") { id kind __typename detail { note } } }');
    yes('subscription S { changed(id: "1") { ...F ... on Change { id } } } fragment F on Change { kind }');
    no('subscription { changed(id: "1") { id owner } }');
    no('subscription { changed(id: "1") { ...F } } fragment F on Change { owner }');
    no('subscription { changed(id: "1") { ... on Change { owner } } }');
    no('subscription { other { id } }');
    no('query { ok }');
  });

  it('executes an event once for subscribers with the same document and variables, and keeps results apart otherwise', async () => {
    const first = countingEvent('e1');
    const { source } = sourceOf([first.event]);
    const shared = schemaWith(source);
    const query = 'subscription($id: ID!) { changed(id: $id) { id kind } }';
    const results = await Promise.all(
      ['ada', 'bob', 'cy'].map(async (user) => (await (await subscribe(shared, query, { id: '1' }, user)).next()).value as ExecutionResult),
    );
    for (const result of results) assert.deepEqual(plain(result), { data: { changed: { id: 'e1', kind: 'UPDATED' } } });
    assert.equal(first.reads(), 1, 'one execution for three subscribers');
    // Other variables: executed on their own.
    await (await subscribe(shared, query, { id: '2' }, 'ada')).next();
    assert.equal(first.reads(), 2);

    // A field that may read the caller: every subscriber gets its own execution, and its own answer.
    const second = countingEvent('e2');
    const perCaller = schemaWith(sourceOf([second.event]).source);
    const withOwner = 'subscription { changed(id: "1") { kind owner } }';
    const owners = await Promise.all(
      ['ada', 'bob'].map(async (user) => ((await (await subscribe(perCaller, withOwner, {}, user)).next()).value as ExecutionResult).data),
    );
    assert.deepEqual(plain(owners), [{ changed: { kind: 'UPDATED', owner: 'ada' } }, { changed: { kind: 'UPDATED', owner: 'bob' } }]);
    assert.equal(second.reads(), 2);
  });

  it('passes return() on to the source, which ends its feed', async () => {
    const { source, state } = sourceOf([countingEvent('e3').event]);
    const stream = await subscribe(schemaWith(source), 'subscription { changed(id: "1") { id } }', {}, 'ada');
    await stream.next();
    const pending = stream.next();
    await stream.return(undefined);
    assert.equal(state.returned, true);
    assert.deepEqual(await pending, { done: true, value: undefined }, 'the waiting subscriber is let go');
  });
});
