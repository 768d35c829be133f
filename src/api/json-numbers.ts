/**
 * Numbers that would not read back as written, found in JSON (or GraphQL) text before it is
 * parsed. Numbers are kept as IEEE doubles (as JSON.parse, PostgreSQL's driver and most
 * clients do), so `9007199254740993` quietly becomes 9007199254740992 and
 * `0.10000000000000001` becomes 0.1; once parsed, the change cannot be seen. So a parser
 * marks such a number as Infinity, the value `1e400` already parses to, and the one service
 * check (services/shared/json-values.ts) refuses it with its path.
 *
 * "As written" compares decimal values, not spellings: `1.5e300`, `6.02e23`, `0.1`, `1E2`
 * and `100.0` all read back as the same number and are kept.
 */

// A decimal of 15 significant digits or fewer within about 1e±300 always survives a double
// (DBL_DIG): a text without a run of 16 digits (one decimal point allowed inside) or a
// three-digit exponent (1e-400 underflows to 0) skips the scan.
const SUSPECT_NUMBER = /(?:\d\.?){16}|[eE][+-]?\d{3}/;
const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** `text` as sign, significant digits and exponent, so equal values compare equal. */
function canonical(text: string): string {
  const negative = text.startsWith('-');
  const [mantissa = '', exponent = '0'] = (negative ? text.slice(1) : text).toLowerCase().split('e');
  const [whole = '', fraction = ''] = mantissa.split('.');
  let digits = (whole + fraction).replace(/^0+/, '');
  let power = Number(exponent) - fraction.length;
  if (digits === '') return '0';
  const trimmed = digits.replace(/0+$/, '');
  power += digits.length - trimmed.length;
  digits = trimmed;
  return `${negative ? '-' : ''}${digits}e${power}`;
}

/**
 * Whether the JSON number `text` reads back as written once held as a double. Out-of-range
 * numbers answer true: they parse to Infinity, which the service refuses anyway.
 */
export function readsBackExactly(text: string): boolean {
  const value = Number(text);
  if (!Number.isFinite(value)) return true;
  const shortest = String(value);
  // The common case (text a JavaScript client wrote) without the canonical forms.
  if (shortest === text) return true;
  return canonical(text) === canonical(shortest);
}

/** `text` with every number outside strings that would not read back replaced by `1e400`. */
export function markInexactNumbers(text: string): string {
  if (!SUSPECT_NUMBER.test(text)) return text;
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
      const token = NUMBER.exec(text)?.[0];
      if (token === undefined) {
        i++;
        continue;
      }
      if (!readsBackExactly(token)) {
        parts.push(text.slice(copied, i), '1e400');
        copied = i + token.length;
      }
      i += token.length;
    } else {
      i++;
    }
  }
  if (parts.length === 0) return text;
  parts.push(text.slice(copied));
  return parts.join('');
}
