/**
 * Characters a name may not hold. Names are shown in lists, logs, audit entries and other
 * people's screens, so a name must not be able to hide or reorder what is shown around it:
 *
 * - control characters, C0 (U+0000-U+001F), DEL and C1 (U+007F-U+009F): line breaks and
 *   terminal escapes forge log lines and break layouts;
 * - bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): they
 *   reorder everything up to the end of the line ("Trojan Source", CVE-2021-42574), so
 *   "Invoice\u202Efdp.exe" reads as "Invoiceexe.pdf".
 *
 * The implicit marks U+200E (LRM), U+200F (RLM) and U+061C (ALM) stay allowed: they only
 * affect the neutral characters next to them, cannot reorder a run of text, and are needed
 * to write mixed-direction names (Hebrew or Arabic with digits or Latin) correctly.
 */
const REFUSED = /[\p{Cc}\u202A-\u202E\u2066-\u2069]/u;

/**
 * Why `name` may not be used, naming the first refused character (e.g. "must not contain
 * control characters or bidirectional overrides/isolates (found U+202E)"), or undefined.
 */
export function nameCharacterProblem(name: string): string | undefined {
  const match = REFUSED.exec(name);
  if (!match) return undefined;
  const codePoint = `U+${match[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return `must not contain control characters or bidirectional overrides/isolates (found ${codePoint})`;
}
