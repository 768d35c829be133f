import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function UsersPage(_props: PageProps) {
  return (
    <Page title="Users">
      <p>Not built yet.</p>
    </Page>
  );
}
