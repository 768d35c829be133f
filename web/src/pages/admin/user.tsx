import type { User, UserGrants } from '@pcf/sdk';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { ErrorMessage, Loading } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { PermissionForm } from '../../admin/permission-form.js';
import { PermissionTable } from '../../admin/permission-table.js';
import { DeleteUser } from './delete-user.js';
import { UserDetailsForm } from './user-details.js';
import { UserRoles } from './user-roles.js';
import '../../admin/admin.css';

/** One user: who they are, what they hold, and leaving. */
export function UserPage({ params }: PageProps) {
  const id = params.id!;
  const [user, setUser] = useState<User>();
  const [grants, setGrants] = useState<UserGrants>();
  const [error, setError] = useState<unknown>();

  const loadGrants = useCallback(async (signal?: AbortSignal) => setGrants(await pcf.users.grants(id, { signal })), [id]);

  useEffect(() => {
    const controller = new AbortController();
    setUser(undefined);
    setGrants(undefined);
    setError(undefined);
    Promise.all([pcf.users.get(id, { signal: controller.signal }).then(setUser), loadGrants(controller.signal)]).catch((err: unknown) => {
      if (!controller.signal.aborted) setError(err);
    });
    return () => controller.abort();
  }, [id, loadGrants]);

  if (error !== undefined)
    return (
      <Page title="User">
        <ErrorMessage error={error} title="The user could not be loaded." />
        <p>
          <a href={href('/admin/users')}>Back to users</a>
        </p>
      </Page>
    );
  if (!user || !grants)
    return (
      <Page title="User">
        <Loading label="Loading the user…" />
      </Page>
    );

  return (
    <Page title={user.name}>
      <p>
        <a href={href('/admin/users')}>← Users</a> · <span class="hint">{user.email}</span>
      </p>
      <div class="admin-columns">
        <UserDetailsForm user={user} onSaved={setUser} />
        <UserRoles userId={user.id} roles={grants.roles} onChanged={() => loadGrants()} />
      </div>
      <section class="admin-section" aria-labelledby="direct-permissions">
        <h2 id="direct-permissions">Direct permissions</h2>
        <p class="hint">Granted to this user alone, on top of what their roles give.</p>
        <PermissionTable
          permissions={grants.permissions}
          empty="No direct permissions: this user has what their roles give."
          onRemove={async (p) => {
            await pcf.users.revoke(user.id, p.id);
            await loadGrants();
          }}
        />
        <h3>Grant a permission</h3>
        <PermissionForm
          defaultPreviewUserId={user.id}
          onAdd={async (input) => {
            await pcf.users.grant(user.id, input);
            await loadGrants();
          }}
        />
      </section>
      <DeleteUser user={user} />
    </Page>
  );
}
