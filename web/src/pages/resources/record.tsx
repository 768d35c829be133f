import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function RecordPage(_props: PageProps) {
  return (
    <Page title="Document">
      <p>Not built yet.</p>
    </Page>
  );
}
