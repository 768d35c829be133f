import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function SessionsPage(_props: PageProps) {
  return (
    <Page title="Sessions">
      <p>Not built yet.</p>
    </Page>
  );
}
