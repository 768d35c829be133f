import type { Permission } from '@pcf/sdk';
import { useState } from 'preact/hooks';
import { Empty } from '../ui/feedback.js';
import { ConfirmDialog } from '../ui/confirm-dialog.js';
import { formatConditions } from './conditions.js';

interface PermissionTableProps {
  permissions: Permission[];
  /** Absent: the permissions are fixed (the admin role's). */
  onRemove?(permission: Permission): Promise<void>;
  empty: string;
}

/** Permissions as a table, each removable after a confirmation. */
export function PermissionTable({ permissions, onRemove, empty }: PermissionTableProps) {
  const [removing, setRemoving] = useState<Permission>();
  if (permissions.length === 0) return <Empty>{empty}</Empty>;
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Resource type</th>
            <th scope="col">Action</th>
            <th scope="col">Conditions</th>
            {onRemove && (
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            )}
          </tr>
        </thead>
        <tbody>
          {permissions.map((p) => (
            <tr key={p.id}>
              <td>
                <code>{p.resourceType}</code>
              </td>
              <td>{p.action}</td>
              <td>
                {p.conditions && Object.keys(p.conditions).length > 0 ? (
                  <pre class="conditions">{formatConditions(p.conditions)}</pre>
                ) : (
                  <span class="hint">always</span>
                )}
              </td>
              {onRemove && (
                <td>
                  <button type="button" class="danger" aria-label={`Remove ${p.action} ${p.resourceType}`} onClick={() => setRemoving(p)}>
                    Remove
                  </button>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
      {removing && onRemove && (
        <ConfirmDialog
          title="Remove this permission?"
          confirmLabel="Remove permission"
          onConfirm={() => onRemove(removing)}
          onClose={() => setRemoving(undefined)}
        >
          <p>
            Whoever holds it through here loses <code>{removing.action}</code> on <code>{removing.resourceType}</code>
            {removing.conditions ? ' where the conditions hold' : ''} at once, unless another permission gives it.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
