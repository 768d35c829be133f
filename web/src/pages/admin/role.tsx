import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function RolePage(_props: PageProps) {
  return (
    <Page title="Role">
      <p>Not built yet.</p>
    </Page>
  );
}
