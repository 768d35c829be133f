import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Kind, parse, type OperationDefinitionNode } from 'graphql';
import { WRITE_POINTS, writeCost } from '../../src/api/graphql/cost.js';

describe('writeCost', () => {
  const operationOf = (source: string) => {
    const document = parse(source);
    const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
    return { document, operation };
  };

  it('serialises a variable once however many fields use it (it runs before the budget refuses)', () => {
    let serialised = 0;
    const data = { toJSON: () => (serialised++, 'x'.repeat(4096)) };
    const { document, operation } = operationOf(`mutation($in: CreateResourceInput!) { ${'createResource(input: $in) { id } '.repeat(125)}}`);
    const cost = writeCost(document, operation, { in: data }, new Set());
    assert.equal(serialised, 1);
    // 4,098 bytes of JSON (a quoted string) is 4 points more than a bare write, for each field.
    assert.equal(cost, 125 * (WRITE_POINTS + 4));
  });

  it('weighs inline literals by their size, variables nested in them included', () => {
    const { document, operation } = operationOf(
      `mutation($d: JSON) { createResource(input: {name: "n", type: "doc", data: $d, metadata: {s: "${'y'.repeat(3000)}"}}) { id } }`,
    );
    assert.equal(writeCost(document, operation, { d: 'z'.repeat(2000) }, new Set()), WRITE_POINTS + 4);
    assert.equal(writeCost(document, operation, undefined, new Set()), WRITE_POINTS + 2);
  });

  it('charges nothing for queries and for the fields the auth budget pays for', () => {
    const query = operationOf('{ me { id } }');
    assert.equal(writeCost(query.document, query.operation, undefined, new Set()), 0);
    const login = operationOf('mutation { login(email: "a@b.c", password: "p") { token } }');
    assert.equal(writeCost(login.document, login.operation, undefined, new Set(['login'])), 0);
  });
});
