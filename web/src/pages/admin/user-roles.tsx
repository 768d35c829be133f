import type { Role } from '@pcf/sdk';
import { useState } from 'preact/hooks';
import { useAllRoles } from '../../admin/use-roles.js';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { Empty, ErrorMessage, Loading } from '../../ui/feedback.js';

interface UserRolesProps {
  userId: string;
  roles: Role[];
  onChanged(): Promise<void>;
}

/** The roles a user holds, and assigning or taking one (both idempotent on the server). */
export function UserRoles({ userId, roles, onChanged }: UserRolesProps) {
  const { roles: all, error: loadError } = useAllRoles();
  const [chosen, setChosen] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();

  const run = async (change: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await change();
      await onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const assignable = (all ?? []).filter((role) => !roles.some((r) => r.id === role.id));

  return (
    <section class="admin-card" aria-labelledby="user-roles">
      <h2 id="user-roles">Roles</h2>
      {error !== undefined && <ErrorMessage error={error} title="The roles were not changed." />}
      {roles.length === 0 ? (
        <Empty>No roles: this user can do only what is granted to them directly.</Empty>
      ) : (
        <ul class="role-list" aria-label="Assigned roles">
          {roles.map((role) => (
            <li key={role.id}>
              <span>
                <a href={href(`/admin/roles/${encodeURIComponent(role.id)}`)}>{role.name}</a> {role.builtin && <span class="tag">built in</span>}
              </span>
              <button type="button" disabled={busy} aria-label={`Unassign ${role.name}`} onClick={() => run(() => pcf.users.unassignRole(userId, role.id))}>
                Unassign
              </button>
            </li>
          ))}
        </ul>
      )}
      {loadError !== undefined ? (
        <ErrorMessage error={loadError} title="The roles could not be loaded." />
      ) : !all ? (
        <Loading label="Loading roles…" />
      ) : assignable.length === 0 ? (
        <p class="hint">This user holds every role.</p>
      ) : (
        <form
          class="row"
          onSubmit={(event) => {
            event.preventDefault();
            if (chosen)
              void run(async () => {
                await pcf.users.assignRole(userId, chosen);
                setChosen('');
              });
          }}
        >
          <label>
            Role to assign{' '}
            <select value={chosen} onChange={(e) => setChosen(e.currentTarget.value)}>
              <option value="">Choose a role…</option>
              {assignable.map((role) => (
                <option key={role.id} value={role.id}>
                  {role.name}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={busy || !chosen}>
            Assign role
          </button>
        </form>
      )}
    </section>
  );
}
