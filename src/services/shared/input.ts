import { appError, type FieldError } from '../../core/errors.js';
import { nameCharacterProblem } from './text.js';

/** Password bounds, counted in Unicode code points as users count characters. */
export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 256;

/**
 * Validation of input fields, shared by every service and reached from every transport (REST
 * schemas check shapes early, but GraphQL and the CLI arrive here too). Problems are collected
 * and reported together.
 */
export class FieldProblems {
  readonly #errors: FieldError[] = [];

  add(field: string, message: string): void {
    this.#errors.push({ field, message });
  }

  /** Throws INVALID_INPUT listing every problem added, if any. */
  throwIfAny(detail = 'The request is invalid.'): void {
    if (this.#errors.length > 0) throw appError('INVALID_INPUT', detail, { errors: this.#errors });
  }
}

// Deliberately loose: one @, something either side, no spaces. Deliverability is the mail
// server's business; a stricter pattern only rejects real addresses.
const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+$/u;

/**
 * Emails are trimmed, NFC-normalised and lowercased (Unicode-aware) before they are stored
 * or compared, so uniqueness holds case-insensitively whatever the database's locale.
 */
export function normaliseEmail(value: unknown, field: string, problems: FieldProblems): string {
  if (typeof value !== 'string') {
    problems.add(field, 'must be a string');
    return '';
  }
  const email = value.trim().normalize('NFC').toLowerCase();
  if (email.length < 3 || email.length > 320 || !EMAIL_SHAPE.test(email)) problems.add(field, 'must be an email address');
  return email;
}

/** A display name: trimmed, NFC, 1 to 200 characters, none of them hiding or reordering text. */
export function normaliseName(value: unknown, field: string, problems: FieldProblems): string {
  if (typeof value !== 'string') {
    problems.add(field, 'must be a string');
    return '';
  }
  const name = value.trim().normalize('NFC');
  // Characters as the database counts them (code points), not UTF-16 units.
  const length = [...name].length;
  if (length < 1 || length > 200) problems.add(field, 'must be 1 to 200 characters');
  else {
    const refused = nameCharacterProblem(name);
    if (refused) problems.add(field, refused);
  }
  return name;
}

/** Length only: a long passphrase beats character-class rules (NIST SP 800-63B). */
export function checkPassword(value: unknown, field: string, problems: FieldProblems): string {
  if (typeof value !== 'string') {
    problems.add(field, 'must be a string');
    return '';
  }
  const length = [...value].length;
  if (length < PASSWORD_MIN_LENGTH || length > PASSWORD_MAX_LENGTH) {
    problems.add(field, `must be ${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`);
  }
  return value;
}

/** Refuses any field not in `allowed` (mass assignment): nothing is silently ignored. */
export function onlyFields(input: object, allowed: readonly string[], problems: FieldProblems, prefix = ''): void {
  for (const key of Object.keys(input)) {
    if (!allowed.includes(key)) problems.add(`${prefix}${key}`, 'is not an allowed field');
  }
}
