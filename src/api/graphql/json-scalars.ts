import { GraphQLError, GraphQLScalarType, Kind, print, type ValueNode } from 'graphql';
import { readsBackExactly } from '../json-numbers.js';

/**
 * The JSON and JSONObject scalars (ECMA-404 values; objects only), written here rather than
 * taken from graphql-scalars, whose module loads its hundred-odd scalars (about 100 ms of every
 * start) for these two. One difference from the usual definitions, in inline literals: a number
 * that would not read back as written (`data: 9007199254740993`) becomes Infinity, as `1e400`
 * does, so the resources service refuses it with its path instead of storing another number
 * (api/json-numbers.ts does the same for JSON bodies). Objects are built without a prototype,
 * so a `__proto__` key stays an own key the service sees and refuses.
 */
function parseLiteral(ast: ValueNode, variables: Record<string, unknown> | null | undefined): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return readsBackExactly(ast.value) ? Number(ast.value) : Infinity;
    case Kind.OBJECT:
      return parseObject(ast, variables);
    case Kind.LIST:
      return ast.values.map((value) => parseLiteral(value, variables));
    case Kind.NULL:
      return null;
    case Kind.VARIABLE:
      return variables ? variables[ast.name.value] : undefined;
    default:
      return undefined;
  }
}

function parseObject(ast: ValueNode, variables: Record<string, unknown> | null | undefined): Record<string, unknown> {
  if (ast.kind !== Kind.OBJECT) throw new GraphQLError(`JSONObject cannot represent non-object value: ${print(ast)}`, { nodes: ast });
  const value = Object.create(null) as Record<string, unknown>;
  for (const field of ast.fields) value[field.name.value] = parseLiteral(field.value, variables);
  return value;
}

/** A JSONObject from a variable or a resolver: an object, not an array or null. */
function ensureObject(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new GraphQLError(`JSONObject cannot represent non-object value: ${String(value)}`);
  }
  return value as Record<string, unknown>;
}

const identity = (value: unknown): unknown => value;
const ECMA_404 = 'http://www.ecma-international.org/publications/files/ECMA-ST/ECMA-404.pdf';

export const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  description: `The \`JSON\` scalar type represents JSON values as specified by [ECMA-404](${ECMA_404}).`,
  specifiedByURL: ECMA_404,
  serialize: identity,
  parseValue: identity,
  parseLiteral,
});

export const JSONObjectScalar = new GraphQLScalarType({
  name: 'JSONObject',
  description: `The \`JSONObject\` scalar type represents JSON objects as specified by [ECMA-404](${ECMA_404}).`,
  specifiedByURL: ECMA_404,
  serialize: ensureObject,
  parseValue: ensureObject,
  parseLiteral: parseObject,
});
