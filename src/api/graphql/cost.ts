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
 * It runs for every operation with the request's variables, so a page size passed as a
 * variable costs the same as the literal.
 */
const PAGE_ARGUMENTS = new Set(['first', 'last']);

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
        cost += times * (1 + inner);
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
