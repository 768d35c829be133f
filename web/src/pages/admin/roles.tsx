import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function RolesPage(_props: PageProps) {
  return (
    <Page title="Roles">
      <p>Not built yet.</p>
    </Page>
  );
}
