import type { RoleDetail } from '@pcf/sdk';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href, navigate } from '../../router.js';
import { explain } from '../../ui/errors.js';
import { ErrorMessage, Loading } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { ConfirmDialog } from '../../ui/confirm-dialog.js';
import { Field } from '../../admin/field.js';
import { PermissionForm } from '../../admin/permission-form.js';
import { PermissionTable } from '../../admin/permission-table.js';
import '../../admin/admin.css';

/** The built-in admin role: its permissions are fixed, so somebody can always grant. */
const ADMIN_ROLE_NAME = 'admin';

/** One role: its name and description, its permissions, and deleting it. */
export function RolePage({ params }: PageProps) {
  const id = params.id!;
  const [role, setRole] = useState<RoleDetail>();
  const [error, setError] = useState<unknown>();

  const load = useCallback(async (signal?: AbortSignal) => setRole(await pcf.roles.get(id, { signal })), [id]);

  useEffect(() => {
    const controller = new AbortController();
    setRole(undefined);
    setError(undefined);
    load(controller.signal).catch((err: unknown) => {
      if (!controller.signal.aborted) setError(err);
    });
    return () => controller.abort();
  }, [load]);

  if (error !== undefined)
    return (
      <Page title="Role">
        <ErrorMessage error={error} title="The role could not be loaded." />
        <p>
          <a href={href('/admin/roles')}>Back to roles</a>
        </p>
      </Page>
    );
  if (!role)
    return (
      <Page title="Role">
        <Loading label="Loading the role…" />
      </Page>
    );

  const fixed = role.builtin && role.name === ADMIN_ROLE_NAME;
  return (
    <Page title={`Role ${role.name}`}>
      <p>
        <a href={href('/admin/roles')}>← Roles</a> {role.builtin && <span class="tag">built in</span>}
      </p>
      <RoleDetailsForm role={role} onSaved={setRole} />
      <section class="admin-section" aria-labelledby="role-permissions">
        <h2 id="role-permissions">Permissions</h2>
        {fixed && <p class="hint">The admin role’s permissions are fixed, so somebody can always grant.</p>}
        <PermissionTable
          permissions={role.permissions}
          empty="No permissions yet: holders of this role get nothing from it."
          onRemove={
            fixed
              ? undefined
              : async (p) => {
                  await pcf.roles.removePermission(role.id, p.id);
                  await load();
                }
          }
        />
        {!fixed && (
          <>
            <h3>Add a permission</h3>
            <PermissionForm
              onAdd={async (input) => {
                await pcf.roles.addPermission(role.id, input);
                await load();
              }}
            />
          </>
        )}
      </section>
      <DeleteRole role={role} />
    </Page>
  );
}

function RoleDetailsForm({ role, onSaved }: { role: RoleDetail; onSaved(role: RoleDetail): void }) {
  const [name, setName] = useState(role.name);
  const [description, setDescription] = useState(role.description);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  const errors = error === undefined ? [] : explain(error).fields;

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    setSaved(false);
    try {
      const changes = { ...(name !== role.name ? { name } : {}), ...(description !== role.description ? { description } : {}) };
      if (Object.keys(changes).length > 0) onSaved(await pcf.roles.update(role.id, changes));
      setSaved(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="admin-card" aria-labelledby="role-details">
      <h2 id="role-details">Name and description</h2>
      <form class="form narrow" onSubmit={submit} noValidate>
        {error !== undefined && <ErrorMessage error={error} title="The changes were not saved." />}
        <Field label="Role name" name="name" errors={errors}>
          {(a) => <input {...a} required value={name} onInput={(e) => setName(e.currentTarget.value)} />}
        </Field>
        {role.builtin && <span class="hint">Built-in roles keep their names.</span>}
        <Field label="Description" name="description" errors={errors}>
          {(a) => <input {...a} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />}
        </Field>
        <div class="row">
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>
          <span role="status">{saved ? 'Saved.' : ''}</span>
        </div>
      </form>
    </section>
  );
}

/** Deleting a role; the server answers for built-in ones (which it refuses), shown in the dialog. */
function DeleteRole({ role }: { role: RoleDetail }) {
  const [open, setOpen] = useState(false);
  return (
    <section class="admin-section" aria-labelledby="delete-role">
      <h2 id="delete-role">Delete this role</h2>
      <button type="button" class="danger" onClick={() => setOpen(true)}>
        Delete role…
      </button>
      {open && (
        <ConfirmDialog
          title={`Delete the role ${role.name}?`}
          confirmLabel="Delete role"
          onConfirm={async () => {
            await pcf.roles.delete(role.id);
            navigate('/admin/roles', undefined, { replace: true });
          }}
          onClose={() => setOpen(false)}
        >
          <p>Everyone who holds it loses its {role.permissions.length} permission(s) at once. This cannot be undone.</p>
          {role.builtin && <p class="hint">It is built in: the server will refuse.</p>}
        </ConfirmDialog>
      )}
    </section>
  );
}
