import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { PASSWORD, registerMember, screenshot, startConsole, type ConsoleHarness, type Person } from './support.js';

/**
 * Accounts in the console, through the UI as a person uses it: registering (with the server's
 * password rule on the field), signing in and out, changing the password, and the sessions
 * page, where signing out another device ends that browser's session at its next call.
 */

let serial = 0;
/** The console's stored token, read in the page (the test's own types have no DOM). */
const storedToken = () => (globalThis as unknown as { localStorage: { getItem(key: string): string | null } }).localStorage.getItem('pcf.console.token');
const uniqueEmail = (name: string) => `${name}.${process.pid}.${(serial += 1)}@auth.example`;

describe('console: accounts and sessions', () => {
  let h: ConsoleHarness;
  const people: Person[] = [];
  const person = async (options?: Parameters<ConsoleHarness['newPerson']>[0]) => {
    const made = await h.newPerson(options);
    people.push(made);
    return made;
  };

  before(async () => {
    h = await startConsole();
  });
  afterEach(() => {
    for (const p of people.splice(0)) assert.deepEqual(p.problems, []);
  });
  after(async () => {
    await h?.close();
  });

  it('registers: the password rule on its field, then signed in on the documents page', async () => {
    const ada = await person();
    await ada.open('/sign-in');
    await ada.page.getByRole('link', { name: 'Create one' }).click();
    await ada.page.getByRole('heading', { level: 1, name: 'Create an account' }).waitFor();
    const email = uniqueEmail('ada');
    await ada.page.getByLabel('Name').fill('Ada Lovelace');
    await ada.page.getByLabel('Email').fill(email);
    const password = ada.page.getByLabel('Password');
    await password.fill('short');
    await ada.page.getByRole('button', { name: 'Create account' }).click();

    // The server's rule, on the field it names, tied to it for screen readers, with the focus there.
    await ada.page.locator('#register-password-error').waitFor();
    assert.equal(await password.getAttribute('aria-invalid'), 'true');
    assert.equal(await password.getAttribute('aria-describedby'), 'register-password-error');
    assert.match(await ada.page.locator('#register-password-error').innerText(), /8 characters/);
    assert.equal(await password.evaluate((input) => input.ownerDocument.activeElement === input), true);

    await password.fill(PASSWORD);
    await ada.page.getByRole('button', { name: 'Create account' }).click();
    await ada.page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
    await ada.page.getByRole('link', { name: 'Ada Lovelace' }).waitFor();
  });

  it('says so when the password is wrong, and signs in with the right one', async () => {
    const member = await registerMember(h.server, 'Wrong');
    const grace = await person();
    await grace.open('/sign-in');
    await grace.page.getByLabel('Email').fill(member.email);
    await grace.page.getByLabel('Password').fill('not the passphrase');
    await grace.page.getByRole('button', { name: 'Sign in' }).click();
    assert.match(await grace.page.getByRole('alert').innerText(), /email or password/i);
    await screenshot(grace.page, 'sign-in');
    await grace.signIn(member.email);
  });

  it('shows the account, changes the password (wrong current one on its field), and signs in with the new one', async () => {
    const member = await registerMember(h.server, 'Changer');
    const alan = await person();
    await alan.signIn(member.email);
    await alan.page.getByRole('link', { name: 'Changer' }).click();
    await alan.page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
    const facts = await alan.page.locator('dl').innerText();
    assert.match(facts, new RegExp(member.email.replace(/\./g, '\\.')));
    assert.match(facts, /member/);
    assert.match(facts, /bytes|KB/);
    await screenshot(alan.page, 'account');

    const current = alan.page.getByLabel('Current password');
    await current.fill('not my password');
    await alan.page.getByLabel('New password', { exact: true }).fill('a newer long passphrase');
    await alan.page.getByRole('button', { name: 'Change password' }).click();
    await alan.page.locator('#password-current-error').waitFor();
    assert.equal(await current.getAttribute('aria-invalid'), 'true');
    assert.match(await alan.page.locator('#password-current-error').innerText(), /incorrect/);

    await current.fill(PASSWORD);
    await alan.page.getByRole('button', { name: 'Change password' }).click();
    await alan.page.getByRole('status').filter({ hasText: 'Password changed' }).waitFor();
    assert.equal(await current.inputValue(), '', 'the form forgets the passwords');

    await alan.page.getByRole('button', { name: 'Sign out' }).click();
    await alan.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await alan.page.getByLabel('Email').fill(member.email);
    await alan.page.getByLabel('Password').fill(PASSWORD);
    await alan.page.getByRole('button', { name: 'Sign in' }).click();
    await alan.page.getByRole('alert').waitFor();
    await alan.signIn(member.email, 'a newer long passphrase');
  });

  it('lists sessions with this device marked; signing out another ends that browser’s session at its next call', async () => {
    const member = await registerMember(h.server, 'Traveller');
    const laptop = await person();
    const phone = await person({ viewport: { width: 375, height: 740 } });
    await laptop.signIn(member.email);
    await phone.signIn(member.email);

    await laptop.open('/account/sessions');
    const table = laptop.page.getByRole('table', { name: 'Your active sessions' });
    await table.waitFor();
    assert.equal(await table.locator('tbody tr').count(), 2);
    const mine = table.locator('tbody tr').filter({ hasText: 'This device' });
    assert.equal(await mine.count(), 1);
    assert.equal(await mine.getByRole('button', { name: 'Sign out this device' }).count(), 1);

    // The other one: a confirmation first; Escape cancels and gives the focus back.
    const other = table.getByRole('button', { name: /^Sign out Headless Chrome/ });
    await other.click();
    const dialog = laptop.page.getByRole('dialog', { name: /^Sign out Headless Chrome/ });
    await dialog.waitFor();
    await laptop.page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await other.evaluate((button) => button.ownerDocument.activeElement === button), true, 'focus back on the trigger');
    await other.click();
    await dialog.getByRole('button', { name: 'Sign out' }).click();
    await laptop.page.getByRole('status').filter({ hasText: 'was signed out' }).waitFor();
    await table.locator('tbody tr').nth(1).waitFor({ state: 'detached' });

    // The phone learns at its next call at the latest (its live connection may tell it sooner),
    // and is sent to sign in, told why.
    await phone.open('/account/sessions');
    await phone.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await phone.page.getByRole('status').filter({ hasText: 'session has ended' }).waitFor();
    assert.equal(await phone.page.evaluate(storedToken), null, 'the dead token is forgotten');

    // Signing out this device from the list is the ordinary sign-out.
    await laptop.page.getByRole('button', { name: 'Sign out this device' }).click();
    await laptop.page.getByRole('dialog').getByRole('button', { name: 'Sign out' }).click();
    await laptop.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await laptop.page.reload();
    await laptop.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
  });

  it('tells an unreachable server apart from being signed out, and keeps the session', async () => {
    const member = await registerMember(h.server, 'Patient');
    const kim = await person();
    await kim.signIn(member.email);
    // The account call fails without an answer, as when the server is down.
    await kim.page.route('**/api/v1/auth/me', (route) => route.abort('connectionrefused'));
    await kim.page.reload();
    await kim.page.getByRole('heading', { level: 1, name: 'The server cannot be reached' }).waitFor();
    assert.ok(await kim.page.evaluate(storedToken), 'still signed in');
    await kim.page.unroute('**/api/v1/auth/me');
    await kim.page.getByRole('button', { name: 'Try again' }).click();
    await kim.page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
  });
});

describe('console: registration closed', () => {
  let h: ConsoleHarness;
  before(async () => {
    h = await startConsole('pglite', { config: { 'auth.registration': 'closed' } });
  });
  after(async () => {
    await h?.close();
  });

  it('offers no registration on sign-in, and the register page says why', async () => {
    const info = (await (await fetch(`${h.server.url}/api/v1`)).json()) as { registration: string };
    assert.equal(info.registration, 'closed');
    const visitor = await h.newPerson();
    await visitor.open('/sign-in');
    await visitor.page.getByText('Accounts are created by an administrator.').waitFor();
    assert.equal(await visitor.page.getByRole('link', { name: 'Create one' }).count(), 0);
    await visitor.open('/register');
    await visitor.page.getByRole('status').filter({ hasText: 'Registration is closed' }).waitFor();
    assert.equal(await visitor.page.getByRole('button', { name: 'Create account' }).count(), 0);
    assert.deepEqual(visitor.problems, []);
  });
});

describe('console: registration by invitation', () => {
  let h: ConsoleHarness;
  before(async () => {
    h = await startConsole('pglite', { config: { 'auth.registration': 'invite' } });
  });
  after(async () => {
    await h?.close();
  });

  it('asks for the invitation, and shows the server’s refusal of a wrong one on its field', async () => {
    const visitor = await h.newPerson();
    await visitor.open('/sign-in');
    await visitor.page.getByRole('link', { name: 'Create one' }).click();
    await visitor.page.getByLabel('Name').fill('Hopeful');
    await visitor.page.getByLabel('Email').fill(uniqueEmail('hopeful'));
    await visitor.page.getByLabel('Password').fill(PASSWORD);
    await visitor.page.getByLabel('Invitation').fill('not-an-invitation');
    await visitor.page.getByRole('button', { name: 'Create account' }).click();
    await visitor.page.getByRole('alert').waitFor();
    const invitation = visitor.page.getByLabel('Invitation');
    assert.equal(await invitation.getAttribute('aria-invalid'), 'true');
    assert.deepEqual(visitor.problems, []);
  });
});
