import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createAdmin, PASSWORD, registerMember, startConsole, type ConsoleHarness, type Person } from './support.js';

/**
 * A real product's manners on every page of the console: axe-core finds no serious or
 * critical accessibility violation, in light and dark, on a desktop and at a phone's width;
 * nothing scrolls sideways at 375 px; the keyboard alone signs in; and a route change moves
 * the focus to the new page's heading.
 */
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

async function seriousViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE });
  const violations = await page.evaluate<AxeViolation[]>(`axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations)`);
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

describe('console: accessibility, responsiveness, keyboard and focus', () => {
  let h: ConsoleHarness;
  let admin: { email: string; id: string };
  const routes: string[] = [];

  before(async () => {
    h = await startConsole();
    admin = await createAdmin(h.server, 'Axe Admin');
    const member = await registerMember(h.server, 'Axe Member');
    const login = await fetch(`${h.server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: admin.email, password: PASSWORD }),
    });
    const { token } = (await login.json()) as { token: string };
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${h.server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      assert.ok(response.ok, `${method} ${path}: ${response.status} ${text}`);
      return JSON.parse(text) as { id: string; revision: number };
    };
    const doc = await call('POST', '/api/v1/resources', { name: 'Accessible document', type: 'doc', data: { title: 'One', tags: ['a'] } });
    await fetch(`${h.server.url}/api/v1/resources/${doc.id}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'if-match': `"${doc.revision}"` },
      body: JSON.stringify({ data: { title: 'Two', tags: ['a', 'b'] } }),
    });
    await call('POST', `/api/v1/resources/${doc.id}/shares`, { userId: member.id, actions: ['read'] });
    const roles = (await (await fetch(`${h.server.url}/api/v1/roles`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      items: { id: string }[];
    };
    routes.push(
      '/resources',
      '/resources/new',
      `/resources/${doc.id}`,
      `/resources/${doc.id}/history`,
      `/resources/${doc.id}/sharing`,
      '/notifications',
      '/account',
      '/account/sessions',
      '/admin/users',
      `/admin/users/${member.id}`,
      '/admin/roles',
      `/admin/roles/${roles.items[0]!.id}`,
    );
  });
  after(async () => {
    await h?.close();
  });

  for (const [label, options] of [
    ['desktop, light', { viewport: { width: 1280, height: 800 }, colorScheme: 'light' }],
    ['phone, dark', { viewport: { width: 375, height: 740 }, colorScheme: 'dark' }],
  ] as const) {
    it(`has no serious accessibility violation and no sideways scroll on any page (${label})`, async () => {
      const signedOut: Person = await h.newPerson({ ...options, bypassCSP: true });
      const found: string[] = [];
      for (const route of ['/sign-in', '/register']) {
        await signedOut.open(route);
        await signedOut.page.locator('h1').first().waitFor();
        found.push(...(await seriousViolations(signedOut.page)).map((v) => `${route}: ${v}`));
      }
      const person = await h.newPerson({ ...options, bypassCSP: true });
      await person.signIn(admin.email);
      for (const route of routes) {
        await person.open(route);
        await person.page.locator('h1').first().waitFor();
        // Let the page's data arrive: axe judges what a person would see.
        await person.page.waitForFunction(`!document.querySelector('.loading')`, undefined, { timeout: 10_000 }).catch(() => undefined);
        found.push(...(await seriousViolations(person.page)).map((v) => `${route}: ${v}`));
        const overflow = await person.page.evaluate<number>(`document.documentElement.scrollWidth - document.documentElement.clientWidth`);
        if (overflow > 0) found.push(`${route}: scrolls sideways by ${overflow} px at ${options.viewport.width} px wide`);
      }
      assert.deepEqual(found, []);
      assert.deepEqual([...signedOut.problems, ...person.problems], []);
    });
  }

  it('signs in with the keyboard alone and moves the focus to each new page heading', async () => {
    const person = await h.newPerson();
    await person.open('/sign-in');
    await person.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await person.page.getByLabel('Email').focus();
    await person.page.keyboard.type(admin.email);
    await person.page.keyboard.press('Tab');
    await person.page.keyboard.type(PASSWORD);
    await person.page.keyboard.press('Enter');
    await person.page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
    assert.equal(await person.page.evaluate<string>(`document.activeElement?.id ?? ''`), 'page-title', 'the new page heading has the focus');
    assert.match(await person.page.title(), /Documents/);
    assert.deepEqual(person.problems, []);
  });
});
