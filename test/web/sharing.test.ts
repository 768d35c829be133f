import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type PcfClient } from '../../sdk/src/index.js';
import { PASSWORD, registerMember, screenshot, startConsole, type ConsoleHarness } from './support.js';
import { fitsTheWidth, isFocused } from './page-state.js';

async function clientOf(url: string, email: string): Promise<PcfClient> {
  const client = createClient({ url });
  await client.auth.login({ email, password: PASSWORD });
  return client;
}

describe('console: sharing a document', () => {
  let h: ConsoleHarness;

  before(async () => {
    h = await startConsole();
  });
  after(async () => {
    await h?.close();
  });

  it('shares by email, names an unknown address on its field, and the share gives and its removal takes access', async () => {
    const owner = await registerMember(h.server, 'Owner');
    const reader = await registerMember(h.server, 'Reader');
    const ownerApi = await clientOf(h.server.url, owner.email);
    const readerApi = await clientOf(h.server.url, reader.email);
    const doc = await ownerApi.resources.create({ name: 'Team notes', type: 'doc', data: { notes: [{ text: 'hello' }] } });

    // The reader has the console open on their documents, without this one.
    const other = await h.newPerson();
    await other.signIn(reader.email);
    const bell = other.page.getByRole('link', { name: /^Notifications, / });
    await bell.waitFor();
    const unread = Number(/(\d+) unread/.exec((await bell.getAttribute('aria-label')) ?? '')?.[1] ?? 0);
    assert.equal(await other.page.getByRole('link', { name: 'Team notes' }).count(), 0);

    const person = await h.newPerson();
    const { page } = person;
    await person.signIn(owner.email);
    await person.open(`/resources/${doc.id}/sharing`);
    await page.getByRole('heading', { level: 1, name: 'Sharing Team notes' }).waitFor();
    await page.getByText('Not shared with anyone yet').waitFor();

    // An address nobody registered: the email field says so.
    const email = page.getByLabel('Email');
    await email.fill(`nobody.${process.pid}@console.example`);
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    await page.locator('input[name="email"][aria-invalid="true"]').waitFor();
    const describedBy = await email.getAttribute('aria-describedby');
    assert.match(await page.locator(`#${describedBy}`).innerText(), /No account has this email address/);
    assert.ok(await isFocused(email), 'the focus is on the field to fix');

    // Read always comes with a share; update is ticked too.
    const read = page.getByRole('checkbox', { name: /^read/ });
    assert.ok((await read.isChecked()) && (await read.isDisabled()));
    await page.getByRole('checkbox', { name: /^update/ }).check();
    await email.fill(reader.email.toUpperCase());
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    const shared = page.getByRole('region', { name: 'Shared with' });
    const row = shared.getByRole('row', { name: /Reader/ });
    await row.waitFor();
    assert.match(await row.innerText(), /read, update/);
    await page.getByRole('status').filter({ hasText: 'Shared with Reader: read, update.' }).waitFor();
    assert.equal(await email.getAttribute('aria-invalid'), null, 'the field error is gone');
    assert.equal(await email.inputValue(), '');
    await screenshot(page, 'sharing');

    // The share appears for the reader: the bell rises live, and the document is in their
    // list, from where they open it.
    await other.page.getByRole('link', { name: `Notifications, ${unread + 1} unread` }).waitFor();
    await other.page.reload();
    await other.page.getByRole('link', { name: 'Team notes' }).click();
    await other.page.getByRole('heading', { level: 1, name: 'Team notes' }).waitFor();
    assert.ok((await readerApi.resources.list().all()).some((r) => r.id === doc.id));
    await other.open(`/resources/${doc.id}/history`);
    await other.page.getByRole('heading', { level: 1, name: 'History of Team notes' }).waitFor();
    await other.page.getByRole('radio', { name: 'B: version 1' }).waitFor();
    // Managing the shares is the owner's: the reader is told so, readably.
    await other.open(`/resources/${doc.id}/sharing`);
    const refusal = other.page.getByRole('alert');
    await refusal.waitFor();
    assert.match(await refusal.innerText(), /Only the owner or an administrator may share this resource/);

    // Removing, after confirming: the row goes and the reader loses the document.
    await shared.getByRole('button', { name: 'Remove share with Reader' }).click();
    const confirm = page.getByRole('dialog', { name: 'Stop sharing with Reader?' });
    await confirm.waitFor();
    await confirm.getByRole('button', { name: 'Remove share' }).click();
    await confirm.waitFor({ state: 'hidden' });
    await page.getByText('Not shared with anyone yet').waitFor();
    const gone = page.getByRole('status').filter({ hasText: 'Reader no longer has access.' });
    await gone.waitFor();
    assert.ok(await isFocused(gone), 'the focus is on what happened');
    assert.deepEqual(await ownerApi.resources.shares(doc.id), []);

    await other.open(`/resources/${doc.id}/history`);
    await other.page.reload();
    const notFound = other.page.getByRole('alert');
    await notFound.waitFor();
    assert.match(await notFound.innerText(), /No such resource/);

    assert.deepEqual(person.problems, []);
    assert.deepEqual(other.problems, []);
  });

  it('shows the server’s field error when sharing with oneself, and keeps a share until the removal is confirmed', async () => {
    const owner = await registerMember(h.server, 'Keeper');
    const friend = await registerMember(h.server, 'Friend');
    const ownerApi = await clientOf(h.server.url, owner.email);
    const doc = await ownerApi.resources.create({ name: 'Kept', type: 'doc', data: {} });
    await ownerApi.resources.share(doc.id, { email: friend.email, actions: ['read', 'delete'] });

    const person = await h.newPerson({ viewport: { width: 375, height: 740 } });
    const { page } = person;
    await person.signIn(owner.email);
    await person.open(`/resources/${doc.id}/sharing`);
    const row = page.getByRole('row', { name: /Friend/ });
    await row.waitFor();
    assert.match(await row.innerText(), /read, delete/);

    const email = page.getByLabel('Email');
    await email.fill(owner.email);
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    await page.locator('input[name="email"][aria-invalid="true"]').waitFor();
    assert.match(await page.locator(`#${await email.getAttribute('aria-describedby')}`).innerText(), /is you/);

    const remove = page.getByRole('button', { name: 'Remove share with Friend' });
    await remove.click();
    const confirm = page.getByRole('dialog', { name: 'Stop sharing with Friend?' });
    await confirm.getByRole('button', { name: 'Cancel' }).click();
    await confirm.waitFor({ state: 'hidden' });
    assert.ok(await isFocused(remove), 'the focus is back on the button');
    assert.equal((await ownerApi.resources.shares(doc.id)).length, 1);
    assert.ok(await fitsTheWidth(page), 'fits a phone');
    assert.deepEqual(person.problems, []);
  });
});
