import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { createClient, type PcfClient } from '../../sdk/src/index.js';
import { PASSWORD, registerMember, screenshot, startConsole, type ConsoleHarness } from './support.js';
import { fitsTheWidth, isFocused } from './page-state.js';

/** A trip, as nested as documents get: objects in arrays in objects. */
const VERSION_1 = {
  title: 'Trip',
  budget: 500,
  itinerary: {
    days: [
      { city: 'Lyon', stops: [{ name: 'Museum', hours: 2 }] },
      { city: 'Paris', stops: [{ name: 'Louvre', hours: 4 }] },
      { city: 'Nice', stops: [] },
    ],
  },
};
const VERSION_2 = { ...VERSION_1, budget: 650 };
const VERSION_3 = {
  ...VERSION_2,
  itinerary: {
    days: [
      {
        city: 'Lyon',
        stops: [
          { name: 'Museum', hours: 3 },
          { name: 'Park', hours: 1 },
        ],
      },
      VERSION_1.itinerary.days[1],
      VERSION_1.itinerary.days[2],
    ],
  },
};
const VERSION_4 = { ...VERSION_3, title: 'Trip to France' };

/** The text of the lines the diff shows as removed and as added, without their marks. */
async function shownLines(page: Page): Promise<{ removed: string[]; added: string[] }> {
  const diff = page.locator('.json-diff');
  return {
    removed: (await diff.locator('td.jd-removed code').allTextContents()).map((t) => t.trim()),
    added: (await diff.locator('td.jd-added code').allTextContents()).map((t) => t.trim()),
  };
}

async function pathsChanged(page: Page): Promise<string[]> {
  const list = page.getByRole('list', { name: 'Paths changed' });
  await list.waitFor();
  return (await list.getByRole('listitem').allTextContents()).map((t) => t.trim());
}

describe('console: a document’s history', () => {
  let h: ConsoleHarness;
  let api: PcfClient;
  let owner: { email: string; id: string };

  before(async () => {
    h = await startConsole();
    owner = await registerMember(h.server, 'Historian');
    api = createClient({ url: h.server.url });
    await api.auth.login({ email: owner.email, password: PASSWORD });
  });
  after(async () => {
    await h?.close();
  });

  async function tripWithFourVersions(): Promise<string> {
    const made = await api.resources.create({ name: 'Trip plan', type: 'doc', data: VERSION_1 });
    let current = made;
    for (const data of [VERSION_2, VERSION_3, VERSION_4]) current = await api.resources.update(current, { data });
    assert.equal(current.version, 4);
    return made.id;
  }

  it('lists the versions, compares any two by lines and by paths, keeps the pair across a reload, and restores one', async () => {
    const id = await tripWithFourVersions();
    const person = await h.newPerson();
    const { page } = person;
    await person.signIn(owner.email);
    await person.open(`/resources/${id}/history`);
    await page.getByRole('heading', { level: 1, name: 'History of Trip plan' }).waitFor();

    // The timeline: newest first, the current one marked, the author named.
    const versions = page.getByRole('region', { name: 'Versions' });
    const rows = versions.getByRole('row');
    await rows.nth(4).waitFor();
    assert.equal(await rows.count(), 5, 'a header and four versions');
    assert.match(await rows.nth(1).innerText(), /^4\s*current/);
    assert.match(await rows.nth(1).innerText(), /Historian \(you\)/);
    assert.match(await rows.nth(4).innerText(), /^1\b/);
    const when = rows.nth(1).locator('time');
    assert.equal(await when.innerText(), 'just now');
    assert.ok((await when.getAttribute('title'))!.length > 10, 'the absolute time on hover');

    // By default the previous version against the current: only the title changed.
    await page.getByRole('heading', { level: 2, name: 'Changes from version 3 to version 4' }).waitFor();
    assert.ok(await versions.getByRole('radio', { name: 'A: version 3' }).isChecked());
    assert.ok(await versions.getByRole('radio', { name: 'B: version 4' }).isChecked());
    assert.deepEqual(await pathsChanged(page), ['replace /title']);
    assert.deepEqual(await shownLines(page), { removed: ['"title": "Trip"'], added: ['"title": "Trip to France"'] });

    // Version 1 against version 3: the budget, and the Lyon day's stops deep inside.
    await versions.getByRole('radio', { name: 'A: version 1' }).check();
    await versions.getByRole('radio', { name: 'B: version 3' }).check();
    await page.getByRole('heading', { level: 2, name: 'Changes from version 1 to version 3' }).waitFor();
    await page.waitForURL((url) => url.hash.endsWith('?a=1&b=3'));
    await page.getByRole('list', { name: 'Paths changed' }).waitFor();
    const lines = await shownLines(page);
    assert.deepEqual(lines.removed.sort(), ['"budget": 500,', '"hours": 2,'].sort());
    assert.ok(lines.added.includes('"budget": 650,'), JSON.stringify(lines));
    assert.ok(lines.added.includes('"hours": 3,'), JSON.stringify(lines));
    assert.ok(lines.added.includes('"name": "Park"'), JSON.stringify(lines));
    assert.ok(!lines.added.some((l) => l.includes('Paris') || l.includes('Louvre')), `the unchanged days are not marked: ${JSON.stringify(lines)}`);
    const paths = await pathsChanged(page);
    assert.ok(paths.includes('replace /budget'), paths.join('; '));
    assert.ok(
      paths.some((p) => p.includes('/itinerary/days/0/stops/')),
      paths.join('; '),
    );
    // The marks say it without colour, and screen readers hear the word.
    assert.match(await page.locator('.json-diff td.jd-line.jd-removed').first().innerText(), /^−\s*removed:/);
    await screenshot(page, 'history-diff');

    // The pair is in the route: a reload keeps it.
    await page.reload();
    await page.getByRole('heading', { level: 2, name: 'Changes from version 1 to version 3' }).waitFor();
    assert.ok(await versions.getByRole('radio', { name: 'A: version 1' }).isChecked());
    assert.ok(await versions.getByRole('radio', { name: 'B: version 3' }).isChecked());
    await page.locator('.json-diff td.jd-removed').first().waitFor();
    assert.deepEqual((await shownLines(page)).removed.sort(), ['"budget": 500,', '"hours": 2,'].sort());

    // Cancelling a restore (Escape) makes nothing and gives the focus back.
    const restore2 = versions.getByRole('button', { name: 'Restore version 2' });
    await restore2.click();
    const dialog = page.getByRole('dialog', { name: 'Restore version 2?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.ok(await isFocused(restore2));
    assert.equal((await api.resources.get(id)).version, 4);

    // Restoring version 1: the dialog says what happens, and a version 5 holds version 1's data.
    await versions.getByRole('button', { name: 'Restore version 1' }).click();
    const confirm = page.getByRole('dialog', { name: 'Restore version 1?' });
    await confirm.waitFor();
    assert.match(await confirm.innerText(), /A new version 5 is made with the data of version 1/);
    await confirm.getByRole('button', { name: 'Restore' }).click();
    const status = page.getByRole('status').filter({ hasText: 'Version 1 restored' });
    await status.waitFor();
    assert.equal(await status.innerText(), 'Version 1 restored: its data is now version 5.');
    assert.ok(await isFocused(status), 'the focus is on what happened');
    await rows.nth(5).waitFor();
    assert.match(await rows.nth(1).innerText(), /^5\s*current/);
    assert.deepEqual((await api.resources.version(id, 5)).data, VERSION_1);
    // The comparison now shows what the restore changed: version 4 back to version 1.
    await page.getByRole('heading', { level: 2, name: 'Changes from version 4 to version 5' }).waitFor();
    await page.waitForURL((url) => url.hash.endsWith('?a=4&b=5'));
    const restored = await pathsChanged(page);
    assert.ok(restored.includes('replace /title') && restored.includes('replace /budget'), restored.join('; '));

    assert.deepEqual(person.problems, []);
  });

  it('shows the diff inline on a narrow screen, with unchanged lines folded until asked for', async () => {
    const id = await tripWithFourVersions();
    const person = await h.newPerson({ viewport: { width: 375, height: 800 }, colorScheme: 'dark' });
    const { page } = person;
    await person.signIn(owner.email);
    await person.open(`/resources/${id}/history?a=3&b=4`);
    const layout = page.getByRole('group', { name: 'Diff layout' });
    await layout.waitFor();
    assert.equal(await layout.getByRole('button', { name: 'Inline' }).getAttribute('aria-pressed'), 'true');
    await page.locator('.json-diff td.jd-added').first().waitFor();
    // The title is the last key: the itinerary before it is folded away.
    const unfold = page.getByRole('button', { name: /^Show \d+ unchanged lines$/ });
    assert.equal(await unfold.count(), 1);
    const hidden = Number(/\d+/.exec(await unfold.innerText())![0]);
    const before = await page.locator('.json-diff tbody tr').count();
    assert.equal(await page.locator('.json-diff').getByText('"Louvre"').count(), 0);
    await unfold.click();
    assert.equal(await page.locator('.json-diff tbody tr').count(), before - 1 + hidden);
    await page.locator('.json-diff').getByText('"Louvre"').waitFor();
    // Nothing sticks out of a phone's width but the table's own scroller.
    assert.ok(await fitsTheWidth(page));

    // The person may still choose side by side.
    await layout.getByRole('button', { name: 'Side by side' }).click();
    await page.getByRole('columnheader', { name: 'Version 3' }).waitFor();
    // …and the choice holds when other versions are compared.
    await page.getByRole('radio', { name: 'A: version 1' }).check();
    await page.getByRole('heading', { level: 2, name: 'Changes from version 1 to version 4' }).waitFor();
    await page.getByRole('columnheader', { name: 'Version 1' }).waitFor();
    assert.equal(await layout.getByRole('button', { name: 'Side by side' }).getAttribute('aria-pressed'), 'true');
    assert.deepEqual(person.problems, []);
  });

  it('tells a person without access that there is no such document, readably', async () => {
    const id = await tripWithFourVersions();
    const stranger = await registerMember(h.server, 'Stranger');
    const person = await h.newPerson();
    await person.signIn(stranger.email);
    await person.open(`/resources/${id}/history`);
    const alert = person.page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /The history could not be read\.\s+No such resource\./);
    assert.match(await alert.innerText(), /Trace/);
    assert.deepEqual(person.problems, []);
  });
});
