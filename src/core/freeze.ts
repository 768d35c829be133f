/**
 * Freezes a value and everything reachable from it; returns the value. Shared data (the
 * configuration, cached entries) is frozen rather than copied per use.
 */
export function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  if (typeof value !== 'object' || value === null || seen.has(value)) return value;
  // Typed arrays cannot be frozen while they have elements; they are not JSON anyway.
  if (ArrayBuffer.isView(value)) return value;
  seen.add(value);
  // No Object.isFrozen shortcut: a caller may have frozen only the top level.
  for (const child of Object.values(value)) deepFreeze(child, seen);
  Object.freeze(value);
  return value;
}
