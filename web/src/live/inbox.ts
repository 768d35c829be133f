/**
 * What changed the unread count, told between the bell (which holds the live subscription)
 * and the notifications page (which marks things read), so each updates without polling.
 */
export type InboxChange = 'received' | 'read' | 'resync';

const listeners = new Set<(change: InboxChange) => void>();

export function announceInbox(change: InboxChange): void {
  for (const listener of [...listeners]) listener(change);
}

/** Returns the function that stops listening. */
export function onInboxChange(listener: (change: InboxChange) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
