import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function HistoryPage(_props: PageProps) {
  return (
    <Page title="History">
      <p>Not built yet.</p>
    </Page>
  );
}
