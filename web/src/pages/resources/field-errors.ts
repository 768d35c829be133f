import type { FieldError } from '@pcf/sdk';

/** The controls of a document's form, which the server's field paths (`data/items/0`) start with. */
export type DocumentField = 'name' | 'type' | 'metadata' | 'data';
const FIELDS: readonly DocumentField[] = ['name', 'type', 'metadata', 'data'];

export type FieldMessages = Partial<Record<DocumentField, string>>;

/**
 * The server's field errors by the control they belong to. A nested path keeps the part
 * inside the field (`data/a/__proto__` → data: "/a/__proto__: keys … are not allowed"), so the
 * person sees where in the JSON. Errors of no control are returned apart.
 */
export function fieldMessages(errors: readonly FieldError[]): { fields: FieldMessages; other: FieldError[] } {
  const fields: FieldMessages = {};
  const other: FieldError[] = [];
  for (const error of errors) {
    const [root, ...rest] = error.field.split('/');
    const field = FIELDS.find((f) => f === root);
    if (!field) {
      other.push(error);
      continue;
    }
    const message = rest.length ? `/${rest.join('/')}: ${error.message}` : error.message;
    fields[field] = fields[field] ? `${fields[field]}; ${message}` : message;
  }
  return { fields, other };
}
