import type { User } from '@pcf/sdk';
import { useCallback, useEffect, useState } from 'preact/hooks';
import type { PageProps } from '../../app.js';
import { pcf } from '../../client.js';
import { href } from '../../router.js';
import { Empty, ErrorMessage, Loading } from '../../ui/feedback.js';
import { Page } from '../../ui/page.js';
import { CreateUserForm } from './create-user.js';
import { InviteForm } from './invite.js';
import '../../admin/admin.css';

interface Listing {
  items: User[];
  nextCursor: string | null;
}

/** Every user, a page at a time, with the forms that add one. */
export function UsersPage(_props: PageProps) {
  // The cursors of the pages before this one, to go back: keyset pages have no numbers.
  const [cursors, setCursors] = useState<(string | undefined)[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [listing, setListing] = useState<Listing>();
  const [error, setError] = useState<unknown>();
  const [reloads, setReloads] = useState(0);
  const reload = useCallback(() => setReloads((n) => n + 1), []);

  useEffect(() => {
    const controller = new AbortController();
    setError(undefined);
    pcf.users
      .list({ signal: controller.signal })
      .page(cursor)
      .then((page) => setListing(page))
      .catch((err: unknown) => {
        if (!controller.signal.aborted) setError(err);
      });
    return () => controller.abort();
  }, [cursor, reloads]);

  const next = () => {
    if (!listing?.nextCursor) return;
    setCursors([...cursors, cursor]);
    setCursor(listing.nextCursor);
  };
  const previous = () => {
    setCursor(cursors[cursors.length - 1]);
    setCursors(cursors.slice(0, -1));
  };

  return (
    <Page title="Users">
      <section class="admin-section" aria-labelledby="users-list">
        <h2 id="users-list" class="sr-only">
          All users
        </h2>
        {error !== undefined ? (
          <ErrorMessage error={error} title="The users could not be loaded." />
        ) : !listing ? (
          <Loading label="Loading users…" />
        ) : listing.items.length === 0 ? (
          <Empty>No users yet. Create one or invite someone below.</Empty>
        ) : (
          <UserTable users={listing.items} />
        )}
        {(cursors.length > 0 || listing?.nextCursor) && (
          <nav class="pager" aria-label="Pages of users">
            <button type="button" onClick={previous} disabled={cursors.length === 0}>
              Previous page
            </button>
            <button type="button" onClick={next} disabled={!listing?.nextCursor}>
              Next page
            </button>
          </nav>
        )}
      </section>
      <div class="admin-columns">
        <CreateUserForm onCreated={reload} />
        <InviteForm />
      </div>
    </Page>
  );
}

function UserTable({ users }: { users: User[] }) {
  return (
    <div class="table-wrap">
      <table>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Email</th>
            <th scope="col" class="hide-narrow">
              Created
            </th>
          </tr>
        </thead>
        <tbody>
          {users.map((user) => (
            <tr key={user.id}>
              <td>
                <a href={href(`/admin/users/${encodeURIComponent(user.id)}`)}>{user.name}</a>
              </td>
              <td>{user.email}</td>
              <td class="hide-narrow">{new Date(user.createdAt).toLocaleDateString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
