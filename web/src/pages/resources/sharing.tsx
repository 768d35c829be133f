import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function SharingPage(_props: PageProps) {
  return (
    <Page title="Sharing">
      <p>Not built yet.</p>
    </Page>
  );
}
