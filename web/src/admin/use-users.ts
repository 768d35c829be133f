import type { User } from '@pcf/sdk';
import { useEffect, useState } from 'preact/hooks';
import { pcf } from '../client.js';

/** The most users a picker loads: enough for a team; past it, the search box says so. */
export const PICKER_LIMIT = 1000;

export interface UsersState {
  users: User[] | undefined;
  /** True when there were more users than PICKER_LIMIT. */
  truncated: boolean;
  error: unknown;
}

/** Every user (up to PICKER_LIMIT), for pickers: loaded once per mount, cancelled on unmount. */
export function useAllUsers(): UsersState {
  const [state, setState] = useState<UsersState>({ users: undefined, truncated: false, error: undefined });
  useEffect(() => {
    const controller = new AbortController();
    void (async () => {
      try {
        const users: User[] = [];
        let truncated = false;
        for await (const user of pcf.users.list({ signal: controller.signal })) {
          if (users.length === PICKER_LIMIT) {
            truncated = true;
            break;
          }
          users.push(user);
        }
        if (!controller.signal.aborted) setState({ users, truncated, error: undefined });
      } catch (error) {
        if (!controller.signal.aborted) setState({ users: undefined, truncated: false, error });
      }
    })();
    return () => controller.abort();
  }, []);
  return state;
}

/** How a user is named in a list: name and email, as people tell users apart. */
export const userLabel = (user: Pick<User, 'name' | 'email'>): string => `${user.name} <${user.email}>`;
