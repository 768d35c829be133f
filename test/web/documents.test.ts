import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClient, type Resource } from '@pcf/sdk';
import type { Locator, Page } from 'playwright-core';
import { PASSWORD, registerMember, screenshot, startConsole, type ConsoleHarness, type Person } from './support.js';

/**
 * The documents pages in Chromium against the real server: list and filters, create, the JSON
 * editor, field errors, live updates between two people, conflicts, and delete.
 */

type Api = ReturnType<typeof createClient>;

/** A member with an SDK client signed in as them (for what the test sets up through the API). */
async function member(h: ConsoleHarness, name: string): Promise<{ email: string; id: string; api: Api }> {
  const { email } = await registerMember(h.server, name);
  const api = createClient({ url: h.server.url });
  await api.auth.login({ email, password: PASSWORD });
  // The id from the API itself (registerMember's reads a field the answer does not have).
  const { user } = await api.auth.me();
  return { email, id: user.id, api };
}

/** The JSON editor's text area (CodeMirror's content, in the editor's shadow root). */
function editor(page: Page, name: 'Data' | 'Metadata'): Locator {
  return page.getByRole('textbox', { name, exact: true });
}

/** Replaces an editor's text as a person would: select all, then type. */
async function typeInto(page: Page, name: 'Data' | 'Metadata', text: string): Promise<void> {
  const box = editor(page, name);
  await box.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/** The editor's text, whitespace-normalised. */
async function editorText(page: Page, name: 'Data' | 'Metadata'): Promise<string> {
  return (await editor(page, name).innerText()).replace(/\s+/g, '');
}

async function waitForText(locator: Locator, pattern: RegExp): Promise<void> {
  await locator.filter({ hasText: pattern }).first().waitFor();
}

async function openDocument(person: Person, doc: Resource): Promise<void> {
  await person.open(`/resources/${doc.id}`);
  await person.page.getByRole('heading', { level: 1, name: doc.name }).waitFor();
  await editor(person.page, 'Data').waitFor();
}

describe('console: documents', () => {
  let h: ConsoleHarness;
  before(async () => {
    h = await startConsole();
  });
  after(async () => {
    await h?.close();
  });

  it('creates a document through the form and lists it', async () => {
    const ada = await member(h, 'Ada');
    const person = await h.newPerson();
    await person.signIn(ada.email);
    const { page } = person;
    await page.getByRole('link', { name: 'New document' }).click();
    await page.getByRole('heading', { level: 1, name: 'New document' }).waitFor();
    await page.getByLabel('Name').fill('Launch plan');
    await page.getByLabel('Type').fill('plan');
    await typeInto(page, 'Metadata', '{"team": "rockets"}');
    await typeInto(page, 'Data', '{"steps": ["fuel", "count down"], "go": true}');
    await page.getByRole('button', { name: 'Create document' }).click();

    await page.getByRole('heading', { level: 1, name: 'Launch plan' }).waitFor();
    assert.match(page.url(), /#\/resources\/[0-9a-f-]{36}$/);
    const [created] = await ada.api.resources.list().all();
    assert.equal(created?.name, 'Launch plan');
    const stored = await ada.api.resources.get(created.id);
    assert.deepEqual(stored.data, { steps: ['fuel', 'count down'], go: true });
    assert.deepEqual(stored.metadata, { team: 'rockets' });
    assert.equal(await page.getByRole('textbox', { name: 'Type' }).getAttribute('readonly'), '', 'the type is read-only once created');
    await screenshot(page, 'document-record');

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Documents' }).click();
    await page.getByRole('link', { name: 'Launch plan' }).waitFor();
    assert.match(await page.getByRole('status').filter({ hasText: /shown/ }).innerText(), /^1 shown$/);
    await page.getByRole('link', { name: 'Launch plan' }).click();
    await page.getByRole('heading', { level: 1, name: 'Launch plan' }).waitFor();
    assert.deepEqual(person.problems, []);
  });

  it('filters by type, name and owner, with the filters kept in the address', async () => {
    const ada = await member(h, 'Ada');
    const bob = await member(h, 'Bob');
    await ada.api.resources.create({ name: 'Groceries', type: 'list', data: [] });
    await ada.api.resources.create({ name: 'Garden notes', type: 'note', data: {} });
    await ada.api.resources.create({ name: 'Kitchen notes', type: 'note', data: {} });
    const shared = await bob.api.resources.create({ name: "Bob's notes", type: 'note', data: {} });
    await bob.api.resources.share(shared.id, { userId: ada.id, actions: ['read'] });

    const person = await h.newPerson();
    await person.signIn(ada.email);
    const { page } = person;
    const rows = page.locator('tbody tr');
    await page.getByRole('link', { name: "Bob's notes" }).waitFor();
    assert.equal(await rows.count(), 4);

    await page.getByLabel('Type').fill('note');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/type=note/);
    await waitForText(page.getByRole('status'), /^3 shown$/);
    assert.equal(await page.getByRole('link', { name: 'Groceries' }).count(), 0);

    await page.getByRole('combobox', { name: 'Owner', exact: true }).selectOption({ label: 'Me' });
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/owner=mine/);
    await waitForText(page.getByRole('status'), /^2 shown$/);
    assert.equal(await page.getByRole('link', { name: "Bob's notes" }).count(), 0);

    await page.getByLabel('Name contains').fill('garden');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/q=garden/);
    await waitForText(page.getByRole('status'), /^1 shown$/);
    await page.getByRole('link', { name: 'Garden notes' }).waitFor();

    // Reload: the same list, and the form says why.
    await page.reload();
    await waitForText(page.getByRole('status'), /^1 shown$/);
    assert.equal(await page.getByLabel('Name contains').inputValue(), 'garden');
    assert.equal(await page.getByLabel('Type').inputValue(), 'note');
    assert.equal(await page.getByRole('combobox', { name: 'Owner', exact: true }).inputValue(), 'mine');

    // Back: the filter before, in the list and in the form.
    await page.goBack();
    await waitForText(page.getByRole('status'), /^2 shown$/);
    assert.equal(await page.getByLabel('Name contains').inputValue(), '');

    // Another owner by id.
    await page.getByRole('combobox', { name: 'Owner', exact: true }).selectOption({ label: 'A user id…' });
    await page.getByLabel('Owner id').fill(bob.id);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(new RegExp(`owner=${bob.id}`));
    await waitForText(page.getByRole('status'), /^1 shown$/);
    await page.getByRole('link', { name: "Bob's notes" }).waitFor();

    // Nothing matches: an empty state that says so.
    await person.open('/resources?type=nothing-here');
    await page.getByText('No document matches these filters.').waitFor();
    assert.deepEqual(person.problems, []);
  });

  it('pages with Load more, and fits a 375 px wide screen', async () => {
    const ada = await member(h, 'Ada');
    for (let i = 1; i <= 30; i += 1) await ada.api.resources.create({ name: `Bulk ${String(i).padStart(2, '0')}`, type: 'bulk', data: { i } });
    const person = await h.newPerson({ viewport: { width: 375, height: 740 } });
    await person.signIn(ada.email);
    const { page } = person;
    // A fresh load of the filtered address: the first listing is the filtered one.
    await person.open('/resources?type=bulk');
    await page.reload();
    await waitForText(page.getByRole('status'), /^25 shown, more to load$/);
    assert.equal(await page.locator('tbody tr').count(), 25);
    const width = await page.evaluate<number>('document.documentElement.scrollWidth');
    assert.ok(width <= 375, `the page is ${width} px wide at 375`);
    await screenshot(page, 'documents-list-narrow');

    await page.getByRole('button', { name: 'Load more' }).click();
    await waitForText(page.getByRole('status'), /^30 shown$/);
    assert.equal(await page.locator('tbody tr').count(), 30);
    assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0, 'no more pages');
    const names = await page.locator('tbody tr td:first-child').allInnerTexts();
    assert.equal(new Set(names).size, 30, 'no document twice');
    assert.deepEqual(person.problems, []);
  });

  it('flags invalid JSON as it is typed and refuses to create it', async () => {
    const ada = await member(h, 'Ada');
    const person = await h.newPerson();
    await person.signIn(ada.email);
    const { page } = person;
    const posts: string[] = [];
    page.on('request', (request) => {
      if (request.method() === 'POST' && request.url().endsWith('/api/v1/resources')) posts.push(request.url());
    });
    await person.open('/resources/new');
    await page.getByLabel('Name').fill('Broken');
    await page.getByLabel('Type').fill('note');
    await typeInto(page, 'Data', '{"a": 1,}');

    // As typed: the lint marker in the gutter, the message under the editor, aria-invalid.
    await page.locator('.cm-lint-marker-error').first().waitFor();
    const message = page.locator('.field-error[data-field="data"]');
    assert.match(await message.innerText(), /^Not valid JSON: .+\(line 1, column \d+\)$/);
    assert.equal(await editor(page, 'Data').getAttribute('aria-invalid'), 'true');

    await page.getByRole('button', { name: 'Create document' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /Could not create the document: fix Data first/);
    assert.deepEqual(posts, [], 'nothing was sent');

    // Fixed: the problem goes as it is typed.
    await typeInto(page, 'Data', '{"a": 1}');
    await message.waitFor({ state: 'detached' });
    assert.equal(await editor(page, 'Data').getAttribute('aria-invalid'), null);
    assert.deepEqual(person.problems, []);
  });

  it("shows the server's field errors on the fields they name", async () => {
    const ada = await member(h, 'Ada');
    const person = await h.newPerson();
    await person.signIn(ada.email);
    const { page } = person;
    await person.open('/resources/new');
    await page.getByLabel('Name').fill('Typed wrong');
    await page.getByLabel('Type').fill('Not A Type');
    await page.getByRole('button', { name: 'Create document' }).click();
    const type = page.getByRole('textbox', { name: 'Type' });
    await page.locator('#type-problem').waitFor();
    assert.equal(await type.getAttribute('aria-invalid'), 'true');
    assert.equal(await type.getAttribute('aria-describedby'), 'type-problem');
    assert.match(await page.getByRole('alert').innerText(), /fix Type first/);

    const doc = await ada.api.resources.create({ name: 'Nested', type: 'note', data: { a: 1 } });
    await openDocument(person, doc);
    await typeInto(page, 'Data', '{"a": {"__proto__": 1}}');
    await page.getByRole('button', { name: 'Save' }).click();
    const problem = page.locator('.field-error[data-field="data"]');
    await problem.waitFor();
    assert.match(await problem.innerText(), /^\/a\/__proto__: /);
    assert.equal(await editor(page, 'Data').getAttribute('aria-invalid'), 'true');
    assert.match(await page.getByRole('alert').innerText(), /Could not save: fix Data first/);
    assert.equal((await ada.api.resources.get(doc.id)).revision, doc.revision, 'nothing saved');
    assert.deepEqual(person.problems, []);
  });

  it('follows changes live, and settles a conflict by overwriting or by reloading theirs', async () => {
    const ada = await member(h, 'Ada');
    const bob = await member(h, 'Bob');
    const doc = await ada.api.resources.create({ name: 'Shared plan', type: 'plan', data: { step: 'one' } });
    await ada.api.resources.share(doc.id, { userId: bob.id, actions: ['read', 'update'] });

    const a = await h.newPerson();
    const b = await h.newPerson();
    await a.signIn(ada.email);
    await b.signIn(bob.email);
    await openDocument(a, doc);
    await openDocument(b, doc);

    // B saves; A, with nothing edited, follows.
    await typeInto(b.page, 'Data', '{"step": "two"}');
    await b.page.getByRole('button', { name: 'Save' }).click();
    await waitForText(b.page.getByRole('status'), /Saved: version 2/);
    await waitForText(a.page.getByRole('status'), /Updated by someone else/);
    assert.equal(await editorText(a.page, 'Data'), '{"step":"two"}');

    // Both edit; B saves first. A's edits are kept, and A is told.
    await typeInto(a.page, 'Data', '{"step": "three, says Ada"}');
    await typeInto(b.page, 'Data', '{"step": "three, says Bob"}');
    await b.page.getByRole('button', { name: 'Save' }).click();
    await waitForText(b.page.getByRole('status'), /Saved: version 3/);
    await waitForText(a.page.getByRole('status'), /This document changed/);
    assert.equal(await editorText(a.page, 'Data'), '{"step":"three,saysAda"}');

    // A saves anyway: the conflict, theirs against mine.
    await a.page.getByRole('button', { name: 'Save' }).click();
    const panel = a.page.getByRole('region', { name: 'Changed by someone else' });
    await panel.waitFor();
    // As a screen reader reads it: their line removed, mine added, under whose column.
    const diff = (await panel.getByRole('group', { name: 'Their version against yours' }).textContent()) ?? '';
    assert.match(diff, /Theirs \(saved\)/);
    assert.match(diff, /Yours \(not saved\)/);
    assert.match(diff, /removed:\W*"step": "three, says Bob"/);
    assert.match(diff, /added:\W*"step": "three, says Ada"/);
    await screenshot(a.page, 'document-conflict');

    // Overwrite with mine: Ada's wins, and B follows.
    await panel.getByRole('button', { name: 'Overwrite with mine' }).click();
    await panel.waitFor({ state: 'detached' });
    await waitForText(a.page.getByRole('status'), /Saved: version 4/);
    assert.deepEqual((await ada.api.resources.get(doc.id)).data, { step: 'three, says Ada' });
    await waitForText(b.page.getByRole('status'), /Updated by someone else/);
    assert.equal(await editorText(b.page, 'Data'), '{"step":"three,saysAda"}');

    // Again, and this time A keeps theirs.
    await typeInto(a.page, 'Data', '{"step": "four, says Ada"}');
    await typeInto(b.page, 'Data', '{"step": "four, says Bob"}');
    await b.page.getByRole('button', { name: 'Save' }).click();
    await waitForText(b.page.getByRole('status'), /Saved: version 5/);
    await waitForText(a.page.getByRole('status'), /This document changed/);
    await a.page.getByRole('button', { name: 'Save' }).click();
    await panel.waitFor();
    await panel.getByRole('button', { name: 'Reload theirs' }).click();
    await panel.waitFor({ state: 'detached' });
    assert.equal(await editorText(a.page, 'Data'), '{"step":"four,saysBob"}');
    const stored = await ada.api.resources.get(doc.id);
    assert.deepEqual(stored.data, { step: 'four, says Bob' });
    assert.equal(stored.version, 5, 'reloading saved nothing');
    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  });

  it('deletes after asking, and tells whoever has it open', async () => {
    const ada = await member(h, 'Ada');
    const bob = await member(h, 'Bob');
    const doc = await ada.api.resources.create({ name: 'Old draft', type: 'note', data: {} });
    await ada.api.resources.share(doc.id, { userId: bob.id, actions: ['read'] });
    const a = await h.newPerson();
    const b = await h.newPerson();
    await a.signIn(ada.email);
    await b.signIn(bob.email);
    await openDocument(a, doc);
    await openDocument(b, doc);
    const { page } = a;

    // Cancel (and Escape) delete nothing, and give the focus back to the button.
    const trigger = page.getByRole('button', { name: 'Delete', exact: true });
    await trigger.click();
    const dialog = page.getByRole('dialog', { name: 'Delete this document?' });
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate<string>('document.activeElement.textContent'), 'Delete', 'the focus is back on Delete');
    await trigger.click();
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal((await ada.api.resources.get(doc.id)).id, doc.id);

    await trigger.click();
    await dialog.getByRole('button', { name: 'Delete document' }).click();
    await page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
    await page.getByText('No documents yet.').waitFor();
    await b.page.getByText('This document was deleted.').waitFor();
    assert.equal(await b.page.getByRole('button', { name: 'Save' }).isDisabled(), true);
    await assert.rejects(ada.api.resources.get(doc.id), { code: 'NOT_FOUND' });
    assert.deepEqual(a.problems, []);
    assert.deepEqual(b.problems, []);
  });

  it('shows a list of a few documents, for the README', async () => {
    const ada = await member(h, 'Ada');
    for (const [name, type] of [
      ['Quarterly report', 'report'],
      ['Launch checklist', 'plan'],
      ['Meeting notes', 'note'],
    ] as const) {
      await ada.api.resources.create({ name, type, data: { name } });
    }
    const person = await h.newPerson();
    await person.signIn(ada.email);
    await waitForText(person.page.getByRole('status'), /^3 shown$/);
    await screenshot(person.page, 'documents-list');
    assert.deepEqual(person.problems, []);
  });
});
