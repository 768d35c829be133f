import {
  Kind,
  getNamedType,
  getNullableType,
  isInterfaceType,
  isListType,
  isObjectType,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';

/**
 * What an operation costs: the one number used both to refuse documents over
 * `graphql.maxComplexity` and to charge the caller's points budget. It approximates how
 * many values the answer can hold:
 *
 * - every field costs 1, and a field with a selection 1 plus what it selects;
 * - a field that takes `first` or `last` sets a page size: the literal, the variable's value,
 *   or, when the argument is left out, the default the schema declares (a page of 20 is paid
 *   for whether it is asked for or not). The first list below it (a connection's `edges`) is
 *   counted that many times; `pageInfo` and `totalCount` once;
 * - a list without a page size (a user's roles) is counted once: such lists are small by
 *   nature, which is why they are not paginated;
 * - the `__schema` introspection field is free (introspection has its own guard, and is off
 *   in production); everything else, `__type` included, is measured.
 *
 * - a search text (`q`) costs 1 more per 32 characters: it is matched against every
 *   readable name, twice (the page and `totalCount`).
 *
 * It runs for every operation with the request's variables, so a page size passed as a
 * variable costs the same as the literal.
 */
const PAGE_ARGUMENTS = new Set(['first', 'last']);
const SEARCH_ARGUMENTS = new Set(['q']);
const SEARCH_CHARACTERS_PER_POINT = 32;

export interface OperationCost {
  cost: number;
  /** Whether a page size came from a variable: if not, the cost holds for every request. */
  dependsOnVariables: boolean;
}

export function operationCost(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
): OperationCost {
  let dependsOnVariables = false;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  // A fragment's cost depends only on the page size it inherits, so each is computed once per
  // size however often it is spread (a document spreading fragments into fragments would
  // otherwise take exponential time); a cycle, refused by validation anyway, costs 0.
  const fragmentCosts = new Map<string, number>();

  // A variable left out of the request takes its default from the operation, as graphql-js
  // executes it; without one the argument is absent and the schema's default applies.
  const variableDefaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue) variableDefaults.set(definition.variable.name.value, definition.defaultValue);
  }

  function valueOf(value: ValueNode): number | undefined {
    if (value.kind === Kind.INT) return Number.parseInt(value.value, 10);
    if (value.kind !== Kind.VARIABLE) return undefined;
    dependsOnVariables = true;
    const given = variables?.[value.name.value];
    if (typeof given === 'number' && Number.isFinite(given)) return Math.trunc(given);
    const fallback = given === undefined ? variableDefaults.get(value.name.value) : undefined;
    return fallback ? valueOf(fallback) : undefined;
  }

  /** What a search text adds: its length in points, whether written or a variable. */
  function searchCost(args: readonly { name: { value: string }; value: ValueNode }[]): number {
    let cost = 0;
    for (const arg of args) {
      if (!SEARCH_ARGUMENTS.has(arg.name.value)) continue;
      let text: unknown;
      if (arg.value.kind === Kind.STRING) text = arg.value.value;
      else if (arg.value.kind === Kind.VARIABLE) {
        dependsOnVariables = true;
        text = variables?.[arg.value.name.value];
      }
      if (typeof text === 'string') cost += Math.ceil(text.length / SEARCH_CHARACTERS_PER_POINT);
    }
    return cost;
  }

  /** The page size a field asks for, or undefined when it takes none. */
  function pageSize(field: GraphQLField<unknown, unknown> | undefined, args: readonly { name: { value: string }; value: ValueNode }[]): number | undefined {
    for (const arg of args) {
      if (PAGE_ARGUMENTS.has(arg.name.value)) {
        const size = valueOf(arg.value);
        if (size !== undefined) return Math.max(1, size);
      }
    }
    for (const arg of field?.args ?? []) {
      if (PAGE_ARGUMENTS.has(arg.name) && typeof arg.defaultValue === 'number') return Math.max(1, arg.defaultValue);
    }
    return undefined;
  }

  function selectionCost(set: SelectionSetNode, parent: GraphQLNamedType | undefined, page: number | undefined): number {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name === '__schema') continue;
        const field = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
        const pending = pageSize(field, selection.arguments ?? []) ?? page;
        const isList = field !== undefined && isListType(getNullableType(field.type));
        const times = isList ? (pending ?? 1) : 1;
        const type = field ? getNamedType(field.type) : name === '__type' ? (schema.getType('__Type') ?? undefined) : undefined;
        const inner = selection.selectionSet ? selectionCost(selection.selectionSet, type, isList ? undefined : pending) : 0;
        cost += times * (1 + inner + searchCost(selection.arguments ?? []));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const type = selection.typeCondition ? (schema.getType(selection.typeCondition.name.value) ?? undefined) : parent;
        cost += selectionCost(selection.selectionSet, type, page);
      } else {
        const key = `${selection.name.value}|${page ?? ''}`;
        let known = fragmentCosts.get(key);
        if (known === undefined) {
          fragmentCosts.set(key, 0);
          const fragment = fragments.get(selection.name.value);
          known = fragment ? selectionCost(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value) ?? undefined, page) : 0;
          fragmentCosts.set(key, known);
        }
        cost += known;
      }
    }
    return cost;
  }

  const cost = selectionCost(operation.selectionSet, schema.getRootType(operation.operation) ?? undefined, undefined);
  return { cost, dependsOnVariables };
}

/**
 * Points a write costs besides its answer: each mutation field that stores something is
 * charged `WRITE_POINTS`, about what one REST request is of the points budget (50,000 points
 * against 1,200 requests a minute by default), so 15 aliased createResource in one operation,
 * or in each operation of a batch, cost what 15 REST writes do; and 1 point more per KiB of
 * its arguments (resource data and metadata), so large writes cost what they carry. The
 * fields charged to the auth budget instead (login, register, changePassword) are left out.
 * Not part of the complexity limit, which bounds the answer: a 1 MiB write stays allowed.
 */
export const WRITE_POINTS = 40;
const BYTES_PER_POINT = 1024;

export function writeCost(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> | undefined,
  exempt: ReadonlySet<string>,
): number {
  if (operation.operation !== 'mutation') return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  // Each variable is serialised once, however many fields use it: a document may repeat a
  // field a hundred times over one 1 MiB variable, and this runs before the budget refuses.
  const variableBytes = new Map<string, number>();
  const argumentBytes = (value: ValueNode): number => {
    switch (value.kind) {
      case Kind.VARIABLE: {
        let bytes = variableBytes.get(value.name.value);
        if (bytes === undefined) {
          bytes = Buffer.byteLength(JSON.stringify(variables?.[value.name.value]) ?? '');
          variableBytes.set(value.name.value, bytes);
        }
        return bytes;
      }
      case Kind.OBJECT:
        return value.fields.reduce((sum, field) => sum + field.name.value.length + 3 + argumentBytes(field.value), 2);
      case Kind.LIST:
        return value.values.reduce((sum, item) => sum + 1 + argumentBytes(item), 2);
      case Kind.NULL:
        return 4;
      case Kind.BOOLEAN:
        return value.value ? 4 : 5;
      case Kind.STRING:
        return Buffer.byteLength(value.value) + 2;
      default:
        return value.value.length;
    }
  };
  // Each fragment is measured once however often it is spread (nested spreads would
  // otherwise take exponential time); a cycle, refused by validation anyway, costs 0.
  const fragmentCosts = new Map<string, number>();
  const walk = (set: SelectionSetNode): number => {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        if (exempt.has(selection.name.value) || selection.name.value === '__typename') continue;
        const bytes = (selection.arguments ?? []).reduce((sum, arg) => sum + argumentBytes(arg.value), 0);
        cost += WRITE_POINTS + Math.floor(bytes / BYTES_PER_POINT);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        cost += walk(selection.selectionSet);
      } else {
        let known = fragmentCosts.get(selection.name.value);
        if (known === undefined) {
          fragmentCosts.set(selection.name.value, 0);
          const fragment = fragments.get(selection.name.value);
          known = fragment ? walk(fragment.selectionSet) : 0;
          fragmentCosts.set(selection.name.value, known);
        }
        cost += known;
      }
    }
    return cost;
  };
  return walk(operation.selectionSet);
}
