/** How the documents pages print sizes, dates and owners. */

const UNITS = ['bytes', 'KB', 'MB', 'GB', 'TB'];

/** 1536 → "1.5 KB" (powers of 1024, as the quota is configured). */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} ${value === 1 ? 'byte' : 'bytes'}` : `${value < 10 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}

/** "12 shown", with "and more" while further pages remain. */
export function shownCount(shown: number, more: boolean): string {
  return `${shown} shown${more ? ', more to load' : ''}`;
}

/** An owner as the person reads it: "You" for themselves, else the start of the id (the full id in a tooltip). */
export function ownerLabel(ownerId: string, myId: string): string {
  return ownerId === myId ? 'You' : `User ${ownerId.slice(0, 8)}`;
}

/** A timestamp in the person's locale and time zone. */
export function formatTime(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}
