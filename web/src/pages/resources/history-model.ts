/**
 * What the history and sharing pages compute without the DOM: which two versions are
 * compared, how a person or a moment is named. Unit-tested in test/unit/web-history.test.ts.
 */

/** The start of an id, enough to tell people apart on one page when no name is known. */
export function shortId(id: string): string {
  return id.length > 8 ? `${id.slice(0, 8)}…` : id;
}

/** A positive whole version number from the route's query, else undefined. */
export function versionParam(value: string | null | undefined): number | undefined {
  if (!value || !/^[1-9][0-9]{0,9}$/.test(value)) return undefined;
  const n = Number(value);
  return n <= 2147483647 ? n : undefined;
}

/**
 * The versions compared: those the query names (`?a=2&b=5`) when they exist, else the one
 * before the current and the current (a document with one version compares it with itself).
 */
export function comparedVersions(query: URLSearchParams, current: number): { a: number; b: number } {
  const inRange = (n: number | undefined) => (n !== undefined && n <= current ? n : undefined);
  return {
    a: inRange(versionParam(query.get('a'))) ?? Math.max(1, current - 1),
    b: inRange(versionParam(query.get('b'))) ?? current,
  };
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['week', 7 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** "3 minutes ago", "yesterday", "just now": when, said as a person would. */
export function relativeTime(when: Date, now: Date, locale?: string): string {
  const seconds = Math.round((when.getTime() - now.getTime()) / 1000);
  if (Math.abs(seconds) < 45) return 'just now';
  const format = new Intl.RelativeTimeFormat(locale, { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(seconds < 0 ? -1 : 1, 'minute');
}

/** The full date and time, in the person's locale and time zone (for a title). */
export function absoluteTime(when: Date, locale?: string): string {
  return when.toLocaleString(locale, { dateStyle: 'full', timeStyle: 'long' });
}

/** The actions a share can give, as the server knows them (read always comes with the others). */
export const SHARE_ACTIONS = ['read', 'update', 'delete'] as const;
export type ShareAction = (typeof SHARE_ACTIONS)[number];

/** The actions to send for what was ticked: read, plus whichever others were. */
export function shareActions(ticked: Iterable<ShareAction>): ShareAction[] {
  const wanted = new Set<ShareAction>(ticked);
  return SHARE_ACTIONS.filter((action) => action === 'read' || wanted.has(action));
}
