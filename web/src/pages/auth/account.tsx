import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function AccountPage(_props: PageProps) {
  return (
    <Page title="Your account">
      <p>Not built yet.</p>
    </Page>
  );
}
