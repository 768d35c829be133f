import type { Role } from '@pcf/sdk';
import { useEffect, useState } from 'preact/hooks';
import { pcf } from '../client.js';

export interface RolesState {
  /** Every role; undefined while loading or after a failure. */
  roles: Role[] | undefined;
  error: unknown;
}

/** Every role (there are few), loaded once per mount and cancelled on unmount. */
export function useAllRoles(): RolesState {
  const [state, setState] = useState<RolesState>({ roles: undefined, error: undefined });
  useEffect(() => {
    const controller = new AbortController();
    pcf.roles
      .list({ signal: controller.signal })
      .all()
      .then((roles) => setState({ roles, error: undefined }))
      .catch((error: unknown) => {
        if (!controller.signal.aborted) setState({ roles: undefined, error });
      });
    return () => controller.abort();
  }, []);
  return state;
}
