import type { PageProps } from '../../app.js';
import { Page } from '../../ui/page.js';

export function RegisterPage(_props: PageProps) {
  return (
    <Page title="Create an account">
      <p>Not built yet.</p>
    </Page>
  );
}
