import { useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href, navigate } from '../../router.js';
import { explain } from '../../ui/errors.js';
import { Empty, ErrorMessage, Loading } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { Field } from '../../admin/field.js';
import { useAllRoles } from '../../admin/use-roles.js';
import '../../admin/admin.css';

/** Every role, and a form for a new one. */
export function RolesPage(_props: PageProps) {
  const { roles, error } = useAllRoles();

  return (
    <Page title="Roles">
      <section class="admin-section" aria-labelledby="roles-list">
        <h2 id="roles-list" class="sr-only">
          All roles
        </h2>
        {error !== undefined ? (
          <ErrorMessage error={error} title="The roles could not be loaded." />
        ) : !roles ? (
          <Loading label="Loading roles…" />
        ) : roles.length === 0 ? (
          <Empty>No roles yet. Create one below.</Empty>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Role</th>
                  <th scope="col">Description</th>
                </tr>
              </thead>
              <tbody>
                {roles.map((role) => (
                  <tr key={role.id}>
                    <td>
                      <a href={href(`/admin/roles/${encodeURIComponent(role.id)}`)}>{role.name}</a> {role.builtin && <span class="tag">built in</span>}
                    </td>
                    <td>{role.description || <span class="hint">—</span>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <CreateRoleForm />
    </Page>
  );
}

/** A new role opens at once, to give it permissions. */
function CreateRoleForm() {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const errors = error === undefined ? [] : explain(error).fields;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const role = await pcf.roles.create({ name, description });
      navigate(`/admin/roles/${encodeURIComponent(role.id)}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };

  return (
    <section class="admin-card" aria-labelledby="create-role">
      <h2 id="create-role">Create a role</h2>
      <form class="form narrow" onSubmit={submit} noValidate>
        {error !== undefined && <ErrorMessage error={error} title="The role was not created." />}
        <Field label="Role name" name="name" errors={errors}>
          {(a) => <input {...a} required value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        <Field label="Description" name="description" errors={errors}>
          {(a) => <input {...a} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
        </Field>
        <div>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create role'}
          </button>
        </div>
      </form>
    </section>
  );
}
