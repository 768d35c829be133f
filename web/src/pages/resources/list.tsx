import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function ResourcesPage(_props: PageProps) {
  return (
    <Page title="Documents">
      <p>Not built yet.</p>
    </Page>
  );
}
