/**
 * graphql-js appends "Did you mean …?" to the errors of unknown fields, arguments, types,
 * enum values and input fields, naming parts of the schema the caller did not ask for: with
 * introspection off, a client could still map the schema by guessing. graphql-js 16 has no
 * switch for it (its `didYouMean` is internal), so whenever introspection is off the
 * sentence is cut from every message by the one formatter (errors.ts), over HTTP and WebSocket alike.
 * Suggestions are GraphQL names, which hold no `?`, so the sentence ends at the first one.
 */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

/** The message without graphql-js's suggestions. */
export function withoutSuggestions(message: string): string {
  return message.replace(SUGGESTION, '');
}
