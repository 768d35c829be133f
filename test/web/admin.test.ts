import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createResource, type Resource } from '../support/factories.js';
import { as, login } from '../support/identity.js';
import { createAdmin, PASSWORD, registerMember, screenshot, startConsole, type ConsoleHarness, type Person } from './support.js';

/**
 * The administration pages (docs/console/admin.md) as an administrator uses them: users,
 * invitations, roles, permissions with the condition editor and its server-side preview, and
 * deleting a user whose resources go to another.
 */
describe('console: administration', () => {
  let h: ConsoleHarness;
  let admin: { email: string; id: string };

  before(async () => {
    h = await startConsole();
    admin = await createAdmin(h.server, 'Root');
  });
  after(async () => {
    await h?.close();
  });

  const signedInAdmin = async (): Promise<Person> => {
    const person = await h.newPerson();
    await person.signIn(admin.email);
    return person;
  };
  const adminToken = async () => (await login(h.server, admin.email, PASSWORD)).token;
  const memberSession = async (name: string) => {
    const member = await registerMember(h.server, name);
    return { ...member, name, session: await login(h.server, member.email, PASSWORD) };
  };
  const label = (user: { name: string; email: string }) => `${user.name} <${user.email}>`;

  it('hides administration from a member, and answers "Not found" on its URLs', async () => {
    const member = await registerMember(h.server, 'Plain');
    const person = await h.newPerson();
    await person.signIn(member.email);
    const nav = person.page.getByRole('navigation', { name: 'Main' });
    await nav.getByRole('link', { name: 'Documents' }).waitFor();
    assert.equal(await nav.getByRole('link', { name: 'Users' }).count(), 0);
    assert.equal(await nav.getByRole('link', { name: 'Roles' }).count(), 0);
    await person.open('/admin/users');
    await person.page.getByRole('heading', { level: 1, name: 'Not found' }).waitFor();
    assert.deepEqual(person.problems, []);
  });

  it('creates a user (a bad email on its field first), and invites one by email', async () => {
    const person = await signedInAdmin();
    const { page } = person;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
    await page.getByRole('table').getByRole('link', { name: 'Root' }).waitFor();

    const create = page.getByRole('region', { name: 'Create a user' });
    await create.getByLabel('Name', { exact: true }).fill('Grace');
    await create.getByLabel('Email', { exact: true }).fill('no');
    await create.getByLabel('Password', { exact: true }).fill(PASSWORD);
    await create.getByRole('button', { name: 'Create user' }).click();
    const email = create.getByLabel('Email', { exact: true });
    await create.locator('input[name="email"][aria-invalid="true"]').waitFor();
    const described = await email.getAttribute('aria-describedby');
    assert.ok(described);
    assert.ok((await page.locator(`[id="${described}"]`).innerText()).length > 0, 'the field error is on the email field');
    await create.getByRole('alert').waitFor();

    const graceEmail = `grace.${process.pid}@console.example`;
    await email.fill(graceEmail);
    await create.getByRole('button', { name: 'Create user' }).click();
    await create.getByRole('status').filter({ hasText: 'Created' }).waitFor();
    await page.getByRole('table').getByRole('link', { name: 'Grace' }).waitFor();
    assert.equal(await email.getAttribute('aria-invalid'), null);

    const invite = page.getByRole('region', { name: 'Invite by email' });
    const invitedEmail = `invited.${process.pid}@console.example`;
    await invite.getByLabel('Email to invite').fill(invitedEmail);
    await invite.getByRole('button', { name: 'Invite' }).click();
    const token = await invite.getByTestId('invitation-token').innerText();
    assert.match(token, /\S{16,}/);
    const link = await invite.getByTestId('invitation-link').innerText();
    assert.ok(link.includes(encodeURIComponent(invitedEmail)) && link.includes(`invitation=${token}`), link);
    // The token works: it registers the invited person (the server would refuse a wrong one when invite-only).
    const registered = await h.server.app.inject({
      method: 'POST',
      url: '/api/v1/auth/register',
      payload: { email: invitedEmail, name: 'Invited', password: PASSWORD, invitation: token },
    });
    assert.equal(registered.statusCode, 201, registered.body);

    await screenshot(page, 'admin-users');
    assert.deepEqual(person.problems, []);
  });

  it("edits a user's name and assigns a role", async () => {
    const user = await registerMember(h.server, 'Edith');
    const person = await signedInAdmin();
    const { page } = person;
    await person.open(`/admin/users/${user.id}`);
    await page.getByRole('heading', { level: 1, name: 'Edith' }).waitFor();

    const details = page.getByRole('region', { name: 'Details' });
    await details.getByLabel('Name', { exact: true }).fill('Edith Clarke');
    await details.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { level: 1, name: 'Edith Clarke' }).waitFor();
    await details.getByRole('status').filter({ hasText: 'Saved.' }).waitFor();

    const roles = page.getByRole('region', { name: 'Roles' });
    const assigned = roles.getByRole('list', { name: 'Assigned roles' });
    await assigned.getByRole('link', { name: 'member' }).waitFor();
    await roles.getByRole('combobox', { name: /^Role to assign/ }).selectOption({ label: 'admin' });
    await roles.getByRole('button', { name: 'Assign role' }).click();
    await assigned.getByRole('link', { name: 'admin' }).waitFor();

    const token = await adminToken();
    const read = (await as(h.server, token, 'GET', `/api/v1/users/${user.id}`)).json() as { name: string };
    assert.equal(read.name, 'Edith Clarke');
    const grants = (await as(h.server, token, 'GET', `/api/v1/users/${user.id}/grants`)).json() as { roles: { name: string }[] };
    assert.deepEqual(grants.roles.map((r) => r.name).sort(), ['admin', 'member']);
    assert.deepEqual(person.problems, []);
  });

  it('creates a role and gives it a permission through the condition editor, which validates and previews as the server does', async () => {
    const alice = await memberSession('Alice');
    const bob = await memberSession('Bob');
    // Resources of a type of their own, so nothing else this server holds can match.
    const type = `memo${process.pid}`;
    const made: Record<string, Resource> = {};
    for (const [owner, name, team] of [
      [alice, 'A-blue', 'blue'],
      [alice, 'A-red', 'red'],
      [bob, 'B-blue', 'blue'],
      [bob, 'B-green', 'green'],
    ] as const)
      made[name] = await createResource(h.server, owner.session, { type, name, data: {}, metadata: { team } });

    const person = await signedInAdmin();
    const { page } = person;
    await person.open('/admin/roles');
    await page.getByRole('heading', { level: 1, name: 'Roles' }).waitFor();
    await page.getByRole('link', { name: 'admin' }).waitFor();
    const create = page.getByRole('region', { name: 'Create a role' });
    await create.getByLabel('Role name').fill('Blue team');
    await create.getByLabel('Description').fill('Reads the blue memos');
    await create.getByRole('button', { name: 'Create role' }).click();
    await page.getByRole('heading', { level: 1, name: 'Role Blue team' }).waitFor();

    const form = page.getByRole('form', { name: 'Add a permission' });
    const editor = form.getByLabel('Conditions (JSON)');
    const preview = form.getByRole('region', { name: 'Preview' });
    const problems = form.getByRole('group', { name: 'Problems with the permission' });
    const previewed = async () => (await preview.getByRole('link').allInnerTexts()).sort();

    await form.getByLabel('Resource type').fill(type);
    await form.getByRole('combobox', { name: /^Action/ }).selectOption('read');

    // Not JSON: said at once, without the server.
    await editor.fill('{"metadata.team": ');
    await form.getByText(/Not valid JSON/).waitFor();
    assert.equal(await editor.getAttribute('aria-invalid'), 'true');

    // JSON the server refuses: its message, at its path.
    await editor.fill('{"metadata.team": {"$in": "blue"}}');
    await problems.waitFor();
    assert.match(await problems.innerText(), /metadata\.team\/\$in/);
    assert.equal(await editor.getAttribute('aria-invalid'), 'true');

    // Valid: exactly the blue memos of both owners.
    await editor.fill('{"metadata.team": "blue"}');
    await preview.getByRole('link', { name: 'A-blue' }).waitFor();
    assert.deepEqual(await previewed(), ['A-blue', 'B-blue']);
    assert.equal(await editor.getAttribute('aria-invalid'), null);

    // "${user.id}" previewed for Bob: Bob's memos, not the administrator's (who owns none).
    await editor.fill('{"ownerId": "${user.id}"}');
    await form.getByText('It matches no resources now.').waitFor();
    await form.getByRole('combobox', { name: /^Preview as/ }).selectOption({ label: label({ name: 'Bob', email: bob.email }) });
    await preview.getByRole('link', { name: 'B-green' }).waitFor();
    assert.deepEqual(await previewed(), ['B-blue', 'B-green']);

    await page.getByRole('heading', { name: 'Add a permission' }).evaluate((el) => el.scrollIntoView({ block: 'start' }));
    await screenshot(page, 'admin-role-condition-editor');

    await form.getByRole('button', { name: 'Add permission' }).click();
    const table = page.getByRole('region', { name: 'Permissions' }).getByRole('table');
    await table.getByText('"${user.id}"').waitFor();

    const token = await adminToken();
    const roleId = decodeURIComponent(/#\/admin\/roles\/([^?]+)/.exec(page.url())![1]!);
    const stored = (await as(h.server, token, 'GET', `/api/v1/roles/${roleId}`)).json() as { permissions: { resourceType: string; conditions: unknown }[] };
    assert.deepEqual(
      stored.permissions.map((p) => [p.resourceType, p.conditions]),
      [[type, { ownerId: '${user.id}' }]],
    );

    // Removing asks first; Escape keeps it, confirming removes it.
    const remove = table.getByRole('button', { name: `Remove read ${type}` });
    await remove.click();
    const dialog = page.getByRole('dialog', { name: 'Remove this permission?' });
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await remove.evaluate((el) => el.matches(':focus')), true, 'focus is back on the trigger');
    await remove.click();
    await dialog.getByRole('button', { name: 'Remove permission' }).click();
    await page.getByText('No permissions yet').waitFor();
    const after = (await as(h.server, token, 'GET', `/api/v1/roles/${roleId}`)).json() as { permissions: unknown[] };
    assert.deepEqual(after.permissions, []);
    assert.deepEqual(person.problems, []);
  });

  it('shows the server refusing to delete a built-in role', async () => {
    const person = await signedInAdmin();
    const { page } = person;
    await person.open('/admin/roles');
    await page.getByRole('link', { name: 'member' }).click();
    await page.getByRole('heading', { level: 1, name: 'Role member' }).waitFor();
    await page.getByRole('button', { name: 'Delete role…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete the role member?' });
    await dialog.getByRole('button', { name: 'Delete role' }).click();
    await dialog.getByRole('alert').waitFor();
    assert.ok((await dialog.getByRole('alert').innerText()).length > 0);
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('heading', { level: 1, name: 'Role member' }).waitFor();
    assert.deepEqual(person.problems, []);
  });

  it('deletes a user, transferring their resources to another user', async () => {
    const leaver = await memberSession('Leaver');
    const heir = await memberSession('Heir');
    const kept = [
      await createResource(h.server, leaver.session, { name: 'Leaver notes', type: 'doc', data: {} }),
      await createResource(h.server, leaver.session, { name: 'Leaver plan', type: 'doc', data: {} }),
    ];

    const person = await signedInAdmin();
    const { page } = person;
    await person.open(`/admin/users/${leaver.id}`);
    await page.getByRole('heading', { level: 1, name: 'Leaver' }).waitFor();
    await page.getByRole('button', { name: 'Delete user…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete Leaver?' });
    await dialog.getByText('They own 2 resources.').waitFor();
    await dialog.getByRole('searchbox').fill('heir');
    await dialog.getByRole('combobox', { name: /^Transfer to/ }).selectOption({ label: label({ name: 'Heir', email: heir.email }) });
    await dialog.getByRole('button', { name: 'Delete user' }).click();
    await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();

    const token = await adminToken();
    assert.equal((await as(h.server, token, 'GET', `/api/v1/users/${leaver.id}`)).statusCode, 404);
    for (const resource of kept) {
      const read = await as(h.server, token, 'GET', `/api/v1/resources/${resource.id}`);
      assert.equal(read.statusCode, 200, read.body);
      assert.equal((read.json() as Resource).ownerId, heir.id);
    }
    assert.deepEqual(person.problems, []);
  });
});
