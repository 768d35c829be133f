import type { FieldError } from '@pcf/sdk';

/**
 * The server's problems with one field (`password`, `/password`), joined into one sentence,
 * or undefined when it has none.
 */
export function problemOf(fields: FieldError[], name: string): string | undefined {
  const messages = fields.filter((f) => f.field.replace(/^\//, '') === name).map((f) => f.message);
  return messages.length ? messages.join('; ') : undefined;
}

/** The props that tie an input to its error: `aria-invalid` and `aria-describedby`. */
export function invalidProps(id: string, problem: string | undefined) {
  return problem ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-error` } : {};
}
