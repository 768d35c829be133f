import { GraphQLError, GraphQLScalarType, Kind, print, type ValueNode } from 'graphql';
import { GraphQLJSON, GraphQLJSONObject } from 'graphql-scalars';
import { readsBackExactly } from '../json-numbers.js';

/**
 * graphql-scalars' JSON and JSONObject, with one change to inline literals: a number that
 * would not read back as written (`data: 9007199254740993`) becomes Infinity, as `1e400` does,
 * so the resources service refuses it with its path instead of storing another number
 * (api/json-numbers.ts does the same for JSON bodies). Objects are built without a
 * prototype, so a `__proto__` key stays an own key the service sees and refuses.
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

export const JSONScalar = new GraphQLScalarType({ ...GraphQLJSON.toConfig(), parseLiteral });
export const JSONObjectScalar = new GraphQLScalarType({ ...GraphQLJSONObject.toConfig(), parseLiteral: parseObject });
