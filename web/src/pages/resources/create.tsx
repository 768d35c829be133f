import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function CreateResourcePage(_props: PageProps) {
  return (
    <Page title="New document">
      <p>Not built yet.</p>
    </Page>
  );
}
