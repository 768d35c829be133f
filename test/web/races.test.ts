import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Locator, Page, Request, Route } from 'playwright-core';
import { createClient } from '../../sdk/src/index.js';
import { createAdmin, PASSWORD, registerMember, startConsole, type ConsoleHarness } from './support.js';

/**
 * Answers that arrive late, and failures after a change was made: the console never shows a
 * page of an older filter in a newer list, never shows a notification twice or loses one, and
 * never tells a person that a share or a restore failed when only the reload after it did. An
 * administrator can pick any user, even past the first thousand the pickers load.
 */

/** Holds the first request `matches` accepts until `release()`; `held` resolves once it is caught. */
function holdOne(page: Page, matches: (url: URL, request: Request) => boolean) {
  let caught: ((route: Route) => void) | undefined;
  const held = new Promise<Route>((resolve) => (caught = resolve));
  let taken = false;
  const handler = async (route: Route) => {
    if (taken || !matches(new URL(route.request().url()), route.request())) return route.fallback();
    taken = true;
    caught?.(route);
  };
  return {
    held,
    install: () => page.route(() => true, handler),
    async release() {
      const route = await held;
      // The console may have given up on it (an abort): then there is nothing to continue.
      await route.continue().catch(() => undefined);
      await page.unroute(() => true, handler).catch(() => undefined);
      // Time for the answer to land and be (or not be) rendered.
      await page.waitForTimeout(500);
    },
  };
}

/** Waits until a select holds `value`. */
async function chosen(select: Locator, value: string): Promise<void> {
  for (let i = 0; i < 100; i += 1) {
    if ((await select.inputValue()) === value) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(await select.inputValue(), value);
}

const serverError = { status: 500, contentType: 'application/problem+json', body: JSON.stringify({ code: 'INTERNAL_ERROR', message: 'Injected failure.' }) };

describe('console: late answers and failures after the fact', () => {
  let h: ConsoleHarness;
  before(async () => {
    h = await startConsole();
  });
  after(async () => {
    await h?.close();
  });

  const signedIn = async (name: string) => {
    const member = await registerMember(h.server, name);
    const api = createClient({ url: h.server.url });
    await api.auth.login({ email: member.email, password: PASSWORD });
    return { ...member, name, api };
  };

  it('drops a "Load more" of the previous filter when the filter changes meanwhile', async () => {
    const ana = await signedIn('Lister');
    for (let i = 1; i <= 30; i += 1) await ana.api.resources.create({ name: `Alpha ${i}`, type: 'alpha', data: {} });
    for (let i = 1; i <= 2; i += 1) await ana.api.resources.create({ name: `Beta ${i}`, type: 'beta', data: {} });
    const person = await h.newPerson();
    await person.signIn(ana.email);
    const { page } = person;
    await person.open('/resources?type=alpha');
    const more = page.getByRole('button', { name: 'Load more' });
    await more.waitFor();

    const hold = holdOne(page, (url) => url.pathname.endsWith('/api/v1/resources') && url.searchParams.has('cursor'));
    await hold.install();
    await more.click();
    await hold.held;
    await page.evaluate("window.location.hash = '#/resources?type=beta'");
    const table = page.locator('table.documents-table');
    await table.getByRole('link', { name: 'Beta 1' }).waitFor();
    await hold.release();

    assert.equal(await table.getByRole('link', { name: /^Alpha/ }).count(), 0, 'no document of the older filter');
    assert.equal(await table.getByRole('row').count(), 3, 'the heading row and the two beta documents');
    assert.deepEqual(person.problems, []);
  });

  it('shows the filter picked last when All and Unread answer out of order', async () => {
    const ana = await signedIn('Reader');
    const ben = await signedIn('Sharer');
    for (const name of ['Seen memo', 'Fresh memo']) {
      const doc = await ben.api.resources.create({ name, type: 'doc', data: {} });
      await ben.api.resources.share(doc.id, { email: ana.email, actions: ['read'] });
    }
    const seen = (await ana.api.notifications.list().page()).items.find((n) => JSON.stringify(n).includes('Seen memo'));
    assert.ok(seen);
    await ana.api.notifications.markRead(seen.id);

    const person = await h.newPerson();
    await person.signIn(ana.email);
    const { page } = person;
    // The list of all of them is held while the person goes on to Unread.
    const hold = holdOne(page, (url) => url.pathname.endsWith('/api/v1/notifications') && !url.searchParams.has('unread'));
    await hold.install();
    await person.open('/notifications');
    await hold.held;
    await page.getByRole('link', { name: 'Unread', exact: true }).click();
    const list = page.getByRole('list', { name: 'Notifications' });
    await list.getByRole('listitem').filter({ hasText: 'Fresh memo' }).waitFor();
    await hold.release();

    assert.equal(await list.getByRole('listitem').filter({ hasText: 'Seen memo' }).count(), 0, 'the read one is not in Unread');
    // Sign-ins are notified too: every one listed must be unread.
    assert.equal(await list.locator('li.notification:not(.unread)').count(), 0, 'only unread ones');
    assert.deepEqual(person.problems, []);
  });

  it('neither repeats nor loses a notification when one arrives live during "Show more"', async () => {
    const ana = await signedIn('Inbox');
    const ben = await signedIn('Busy');
    for (let i = 1; i <= 24; i += 1) {
      const doc = await ben.api.resources.create({ name: `Memo ${i}`, type: 'doc', data: {} });
      await ben.api.resources.share(doc.id, { email: ana.email, actions: ['read'] });
    }
    const person = await h.newPerson();
    await person.signIn(ana.email);
    const { page } = person;
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await person.open('/notifications');
    const list = page.getByRole('list', { name: 'Notifications' });
    await list.getByRole('listitem').filter({ hasText: '“Memo 24”' }).waitFor();
    assert.equal(await list.getByRole('listitem').count(), 20);

    const hold = holdOne(page, (url) => url.pathname.endsWith('/api/v1/notifications') && url.searchParams.has('cursor'));
    await hold.install();
    await page.getByRole('button', { name: 'Show more' }).click();
    await hold.held;
    const late = await ben.api.resources.create({ name: 'Memo late', type: 'doc', data: {} });
    await ben.api.resources.share(late.id, { email: ana.email, actions: ['read'] });
    await list.getByRole('listitem').filter({ hasText: '“Memo late”' }).waitFor();
    await hold.release();

    const texts = await list.getByRole('listitem').locator('.notification-text').allInnerTexts();
    assert.equal(new Set(texts).size, texts.length, `no repeats: ${texts.join(' | ')}`);
    for (let i = 1; i <= 24; i += 1)
      assert.ok(
        texts.some((t) => t.includes(`“Memo ${i}”`)),
        `Memo ${i} is listed`,
      );
    assert.ok(texts[0]?.includes('Memo late'), 'the new one on top');
    assert.equal(texts.filter((t) => t.includes('“Memo')).length, 25, 'the 24 and the late one');
    assert.deepEqual(person.problems, []);
  });

  it('says a share was made when only reading the shares again failed', async () => {
    const owner = await signedIn('Owner');
    const reader = await registerMember(h.server, 'Friend');
    const doc = await owner.api.resources.create({ name: 'Shared plan', type: 'doc', data: {} });
    const person = await h.newPerson();
    await person.signIn(owner.email);
    const { page } = person;
    await person.open(`/resources/${doc.id}/sharing`);
    await page.getByText('Not shared with anyone yet.').waitFor();

    await page.route(
      (url) => url.pathname.endsWith(`/resources/${doc.id}/shares`),
      (route) => (route.request().method() === 'GET' ? route.fulfill(serverError) : route.fallback()),
    );
    await page.getByLabel('Email').fill(reader.email);
    await page.getByRole('button', { name: 'Share', exact: true }).click();
    await page.getByRole('status').filter({ hasText: 'Shared with Friend: read.' }).waitFor();
    assert.match(await page.getByRole('status').filter({ hasText: 'Shared with Friend' }).innerText(), /could not be refreshed/);
    await page.getByRole('alert').filter({ hasText: 'The shares could not be read again.' }).waitFor();
    assert.equal(await page.getByText('Not shared.').count(), 0);
    assert.deepEqual(
      (await owner.api.resources.shares(doc.id)).map((s) => s.userId),
      [reader.id],
    );
    assert.deepEqual(person.problems, []);
  });

  it('says a restore was made when only reading the versions again failed', async () => {
    const owner = await signedIn('Restorer');
    const doc = await owner.api.resources.create({ name: 'Budget', type: 'doc', data: { amount: 1 } });
    await owner.api.resources.update(doc, { data: { amount: 2 } });
    const person = await h.newPerson();
    await person.signIn(owner.email);
    const { page } = person;
    await person.open(`/resources/${doc.id}/history`);
    const restore = page.getByRole('button', { name: 'Restore version 1' });
    await restore.waitFor();

    await page.route(
      (url) => url.pathname.endsWith(`/resources/${doc.id}/versions`),
      (route) => route.fulfill(serverError),
    );
    await restore.click();
    const dialog = page.getByRole('dialog', { name: 'Restore version 1?' });
    await dialog.getByRole('button', { name: 'Restore' }).click();
    await dialog.waitFor({ state: 'hidden' });
    const status = page.getByRole('status').filter({ hasText: 'Version 1 restored' });
    await status.waitFor();
    assert.match(await status.innerText(), /could not be refreshed/);
    assert.equal((await owner.api.resources.get(doc.id)).version, 3);
    assert.deepEqual(person.problems, []);
  });

  it('picks a user past the first thousand loaded, by a pasted id or an exact email', async () => {
    const admin = await createAdmin(h.server, 'Picker admin');
    const leaver = await signedIn('Leaving');
    const heir = await registerMember(h.server, 'Far heir');
    const other = await registerMember(h.server, 'Far other');
    await leaver.api.resources.create({ name: 'Leaving notes', type: 'doc', data: {} });

    const person = await h.newPerson();
    await person.signIn(admin.email);
    const { page } = person;
    // A thousand other users come first: the real ones only on the pages after.
    const now = new Date().toISOString();
    const crowd = Array.from({ length: 1000 }, (_, i) => ({
      id: randomUUID(),
      email: `crowd.${i}@console.example`,
      name: `Crowd ${i}`,
      createdAt: now,
      updatedAt: now,
    }));
    await page.route(
      (url) => url.pathname.endsWith('/api/v1/users'),
      async (route) => {
        const url = new URL(route.request().url());
        if (route.request().method() !== 'GET') return route.fallback();
        if (!url.searchParams.has('cursor')) return route.fulfill({ json: { items: crowd, nextCursor: 'after-the-crowd' } });
        // Past the crowd: the server's own first page.
        url.searchParams.delete('cursor');
        return route.fulfill({ response: await route.fetch({ url: url.href }) });
      },
    );
    await person.open(`/admin/users/${leaver.id}`);
    await page.getByRole('button', { name: 'Delete user…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete Leaving?' });
    const search = dialog.getByRole('searchbox');
    await search.waitFor();
    assert.match(await dialog.locator('.user-picker').innerText(), /type an exact email or a user id to pick someone else/);
    const select = dialog.getByRole('combobox', { name: /^Transfer to/ });

    // By id: the server reads that user.
    await search.fill(heir.id);
    await dialog.getByRole('button', { name: 'Find the user with this id' }).click();
    await chosen(select, heir.id);

    // An id nobody has: said so, nothing chosen instead.
    await search.fill(randomUUID());
    await dialog.getByRole('button', { name: 'Find the user with this id' }).click();
    await dialog.getByText(/^No user has the id/).waitFor();

    // By exact email (any case), with Enter: found on the pages after the crowd.
    await search.fill(other.email.toUpperCase());
    await search.press('Enter');
    await chosen(select, other.id);
    // Both found stay options; Enter on what names one exactly picks it.
    await search.fill(heir.id);
    await search.press('Enter');
    await chosen(select, heir.id);
    await search.fill('');
    assert.equal(await select.getByRole('option', { name: `Far heir <${heir.email}>` }).count(), 1);
    assert.equal(await select.getByRole('option', { name: `Far other <${other.email}>` }).count(), 1);

    await dialog.getByRole('button', { name: 'Delete user' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    const heirs = createClient({ url: h.server.url });
    await heirs.auth.login({ email: heir.email, password: PASSWORD });
    assert.deepEqual(
      (await heirs.resources.list().page()).items.map((r) => r.name),
      ['Leaving notes'],
    );
    assert.deepEqual(person.problems, []);
  });
});
