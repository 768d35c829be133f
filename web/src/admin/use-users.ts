import { isPcfError, type User } from '@pcf/sdk';
import { useEffect, useState } from 'preact/hooks';
import { pcf } from '../client.js';

/** The most users a picker loads (whole pages, so a little more): enough for a team; past it, the picker says so. */
export const PICKER_LIMIT = 1000;

export interface UsersState {
  users: User[] | undefined;
  /** True when there were more users than PICKER_LIMIT. */
  truncated: boolean;
  /** Where the list goes on after the users loaded (null when all are loaded). */
  rest: string | null;
  error: unknown;
}

/** Every user (up to PICKER_LIMIT), for pickers: loaded once per mount, cancelled on unmount. */
export function useAllUsers(): UsersState {
  const [state, setState] = useState<UsersState>({ users: undefined, truncated: false, rest: null, error: undefined });
  useEffect(() => {
    const controller = new AbortController();
    void (async () => {
      try {
        const users: User[] = [];
        const list = pcf.users.list({ signal: controller.signal });
        let cursor: string | null = null;
        do {
          const page = await list.page(cursor);
          users.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor !== null && users.length < PICKER_LIMIT);
        if (!controller.signal.aborted) setState({ users, truncated: cursor !== null, rest: cursor, error: undefined });
      } catch (error) {
        if (!controller.signal.aborted) setState({ users: undefined, truncated: false, rest: null, error });
      }
    })();
    return () => controller.abort();
  }, []);
  return state;
}

/** Whether what was typed is an email address rather than a user id. */
export const looksLikeEmail = (text: string): boolean => text.includes('@');

/**
 * The user a pasted id or an exact email names, beyond the users loaded: the server reads an id
 * directly; it has no search by email, so the rest of the list (after `rest`) is read, page by
 * page, for that address. Undefined when no user the caller may read has it.
 */
export async function findUser(text: string, rest: string | null, signal?: AbortSignal): Promise<User | undefined> {
  const wanted = text.trim();
  if (!wanted) return undefined;
  if (looksLikeEmail(wanted)) {
    const email = wanted.toLowerCase();
    const list = pcf.users.list(signal ? { signal } : {});
    let cursor = rest;
    while (cursor !== null) {
      const page = await list.page(cursor);
      const found = page.items.find((user) => user.email.toLowerCase() === email);
      if (found) return found;
      cursor = page.nextCursor;
    }
    return undefined;
  }
  try {
    return await pcf.users.get(wanted, signal ? { signal } : {});
  } catch (error) {
    // Not an id at all, or nobody's: the same for the person who typed it.
    if (isPcfError(error) && (error.code === 'NOT_FOUND' || error.code === 'INVALID_INPUT')) return undefined;
    throw error;
  }
}

/** How a user is named in a list: name and email, as people tell users apart. */
export const userLabel = (user: Pick<User, 'name' | 'email'>): string => `${user.name} <${user.email}>`;
