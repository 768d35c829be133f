/**
 * Integers a double cannot hold exactly, found in JSON (or GraphQL) text before it is
 * parsed. `JSON.parse('9007199254740993')` quietly answers 9007199254740992; by the time
 * the service sees the value the change cannot be told from a real 9007199254740992. So a
 * parser marks such an integer as Infinity, the value `1e400` already parses to, and the
 * one service check (services/shared/json-values.ts) refuses it with its path.
 *
 * Only integers written digit by digit are judged: a number with a fraction or exponent is
 * an IEEE double by the convention every JSON parser follows (0.1 is "about 0.1").
 */

// No integer of 15 digits or fewer can be inexact; a body without a longer run skips the scan.
const LONG_DIGITS = /\d{16}/;
const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y;

/** Whether the integer literal `text` (digits, optional minus) is held exactly by a double. */
export function isExactInteger(text: string): boolean {
  const value = Number(text);
  if (Number.isSafeInteger(value)) return true;
  // Out of range: JSON.parse already makes it Infinity, which the service refuses.
  if (!Number.isFinite(value)) return true;
  return BigInt(text) === BigInt(value);
}

/** `text` with every inexact integer literal outside strings replaced by `1e400`. */
export function markInexactIntegers(text: string): string {
  if (!LONG_DIGITS.test(text)) return text;
  const parts: string[] = [];
  let copied = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      NUMBER.lastIndex = i;
      const match = NUMBER.exec(text);
      if (!match) {
        i++;
        continue;
      }
      const integer = match[1] === undefined && match[2] === undefined;
      if (integer && !isExactInteger(match[0])) {
        parts.push(text.slice(copied, i), '1e400');
        copied = i + match[0].length;
      }
      i += match[0].length;
    } else {
      i++;
    }
  }
  if (copied === 0) return text;
  parts.push(text.slice(copied));
  return parts.join('');
}
