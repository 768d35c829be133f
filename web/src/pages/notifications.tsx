import type { PageProps } from '../app.js';
import { Page } from '../ui/page.js';

export function NotificationsPage(_props: PageProps) {
  return (
    <Page title="Notifications">
      <p>Not built yet.</p>
    </Page>
  );
}
