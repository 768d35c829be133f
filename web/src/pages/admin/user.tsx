import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function UserPage(_props: PageProps) {
  return (
    <Page title="User">
      <p>Not built yet.</p>
    </Page>
  );
}
