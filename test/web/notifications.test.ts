import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createClient } from '../../sdk/src/index.js';
import type { TestDatabase } from '../support/databases.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { pgliteTemplate } from '../support/template.js';
import { PASSWORD, registerMember, screenshot, startConsole, type ConsoleHarness } from './support.js';

/**
 * Notifications and the live connection in the console: the bell's count rises without a
 * reload when someone shares a document, the list marks read, and the connection badge shows
 * "Reconnecting…" while the server is away and "Live" once it is back on the same port.
 */

/** The unread count the bell announces (its accessible name). */
async function bellCount(page: Page): Promise<number> {
  const name = (await page.getByRole('link', { name: /^Notifications/ }).getAttribute('aria-label')) ?? '';
  return Number(/(\d+) unread/.exec(name)?.[1] ?? 0);
}

async function waitForBell(page: Page, count: number): Promise<void> {
  const name = count === 0 ? 'Notifications, none unread' : `Notifications, ${count} unread`;
  await page.getByRole('link', { name, exact: true }).waitFor();
}

describe('console: notifications', () => {
  let h: ConsoleHarness;
  before(async () => {
    h = await startConsole();
  });
  after(async () => {
    await h?.close();
  });

  it('raises the bell live when a document is shared, lists it, and marks read', async () => {
    const ana = await registerMember(h.server, 'Ana');
    const ben = await registerMember(h.server, 'Ben');
    const person = await h.newPerson();
    await person.signIn(ana.email);
    const { page } = person;
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await page.getByRole('link', { name: /^Notifications, / }).waitFor();
    const before = await bellCount(page);

    // Ben, elsewhere, shares two documents with Ana.
    const bens = createClient({ url: h.server.url });
    await bens.auth.login({ email: ben.email, password: PASSWORD });
    for (const name of ['Budget', 'Roadmap']) {
      const doc = await bens.resources.create({ name, type: 'doc', data: {} });
      await bens.resources.share(doc.id, { email: ana.email, actions: ['read'] });
    }
    await waitForBell(page, before + 2);

    await page.getByRole('link', { name: /^Notifications, / }).click();
    await page.getByRole('heading', { level: 1, name: 'Notifications' }).waitFor();
    const list = page.getByRole('list', { name: 'Notifications' });
    const budget = list.getByRole('listitem').filter({ hasText: 'Ben shared “Budget” with you' });
    await budget.waitFor();
    assert.match(await budget.innerText(), /Unread/i);
    await screenshot(page, 'notifications');

    await budget.getByRole('button', { name: /^Mark read: Ben shared “Budget”/ }).click();
    await waitForBell(page, before + 1);
    await budget.getByRole('button', { name: /^Mark read/ }).waitFor({ state: 'detached' });
    assert.doesNotMatch(await budget.innerText(), /Unread/i);

    // A new one arrives at the top of the open list, too.
    const third = await bens.resources.create({ name: 'Minutes', type: 'doc', data: {} });
    await bens.resources.share(third.id, { email: ana.email, actions: ['read', 'update'] });
    await list.getByRole('listitem').filter({ hasText: 'Ben shared “Minutes” with you (read, update)' }).waitFor();

    await page.getByRole('button', { name: 'Mark all as read' }).click();
    await waitForBell(page, 0);
    assert.equal(await list.getByRole('button', { name: /^Mark read/ }).count(), 0);
    await page.getByRole('link', { name: 'Unread', exact: true }).click();
    await page.getByText('Nothing unread.').waitFor();
    assert.deepEqual(person.problems, []);
  });
});

describe('console: the live connection across a server restart', () => {
  let dataDir: string;
  let h: ConsoleHarness | undefined;
  let again: TestServer | undefined;

  before(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'pcf-console-live-'));
  });
  after(async () => {
    await again?.server.stop().catch(() => undefined);
    await h?.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('shows Reconnecting… while the server is stopped, and Live again once it is back on the same port', async () => {
    // One PGlite directory, so the second server knows the account and the session.
    const database = (options: TestDatabase['options']): TestDatabase => ({ kind: 'pglite', options, drop: async () => undefined });
    // A short drain: the stop must not wait 30 s for the browser's socket.
    const config = { 'websocket.keepAliveMs': 1000, 'shutdown.drainTimeoutMs': 2000 };
    h = await startConsole('pglite', { database: database({ kind: 'pglite', dataDir, loadDataDir: await pgliteTemplate() }), config });
    const port = Number(new URL(h.server.url).port);
    const member = await registerMember(h.server, 'Steady');
    const person = await h.newPerson();
    await person.signIn(member.email);
    const badge = person.page.getByRole('status').filter({ hasText: /^(Live|Connecting…|Reconnecting…|Offline)$/ });
    await person.page.getByRole('status').filter({ hasText: 'Live' }).waitFor();

    await h.server.server.stop();
    await person.page.getByRole('status').filter({ hasText: 'Reconnecting…' }).waitFor();

    again = await startTestServer('pglite', { database: database({ kind: 'pglite', dataDir }), config: { ...config, port } });
    assert.equal(again.url, h.server.url, 'the same address');
    await person.page.getByRole('status').filter({ hasText: 'Live' }).waitFor({ timeout: 30_000 });
    assert.equal(await badge.innerText(), 'Live');
    // Still signed in, on the page it was on: no reload happened.
    await person.page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
    assert.deepEqual(person.problems, []);
  });
});
