import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signedInUser, type Session } from '../support/factories.js';
import { as, login } from '../support/identity.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startSmtpServer, type SmtpTestServer } from '../support/smtp.js';

/**
 * The email channel end to end: a user opts in over REST, someone shares a resource with it,
 * and the notification reaches a real SMTP server (started here) once, with no credentials
 * in any log line.
 */
const SMTP_USER = 'pcf';
const SMTP_PASS = 'smtp-secret-pass';
const base64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
/**
 * The password as it crosses the wire: AUTH LOGIN sends it base64-encoded on its own, AUTH
 * PLAIN base64-encodes `\0user\0password` as one string (in which the password's own
 * base64 does not appear), so a logged SMTP conversation leaks it in a form the plain
 * text does not match.
 */
const PASSWORD_FORMS: [string, string][] = [
  ['as is', SMTP_PASS],
  ['base64 (AUTH LOGIN)', base64(SMTP_PASS)],
  ['base64 of \\0user\\0password (AUTH PLAIN)', base64(`\0${SMTP_USER}\0${SMTP_PASS}`)],
];

describe('email notifications', () => {
  let smtp: SmtpTestServer;
  let t: TestServer;
  let alice: Session;
  let bob: Session;

  before(async () => {
    smtp = await startSmtpServer({ users: { [SMTP_USER]: SMTP_PASS } });
    const url = smtp.url.replace('smtp://', `smtp://${SMTP_USER}:${SMTP_PASS}@`);
    t = await startTestServer('pglite', { config: { 'mail.smtpUrl': url, 'mail.from': 'PCF <no-reply@pcf.example>' } });
    await signedInUser(t, { name: 'Admin' });
    // The mail assertions look for these addresses; Alice signs in again below.
    alice = await signedInUser(t, { email: 'alice@mail.example', name: 'Alice', password: 'Alice long passphrase' });
    bob = await signedInUser(t, { email: 'bob@mail.example', name: 'Bob' });
  });
  after(async () => {
    await t.close();
    await smtp.close();
  });

  it('emails the kinds a user opted into, once each, and nothing else', async () => {
    const opted = await as(t, alice.token, 'PUT', '/api/v1/notifications/preferences', { email: ['resource.shared'] });
    assert.equal(opted.statusCode, 200, opted.body);
    const doc = (await as(t, bob.token, 'POST', '/api/v1/resources', { name: 'Budget', type: 'doc', data: {} })).json() as { id: string };
    assert.equal((await as(t, bob.token, 'POST', `/api/v1/resources/${doc.id}/shares`, { userId: alice.user.id, actions: ['read'] })).statusCode, 201);

    const mail = await smtp.waitFor((m) => m.to.includes('alice@mail.example'), 10_000);
    assert.equal(mail.subject, 'Bob shared "Budget" (doc) with you');
    assert.match(mail.text, /Bob shared the resource "Budget" \(doc\) with you \(read\)/);
    assert.match(mail.from, /no-reply@pcf\.example/);
    assert.equal(mail.user, SMTP_USER, 'authenticated with the configured account');

    // A login is notified in the app, but alice did not ask for it by email.
    await login(t, 'alice@mail.example', 'Alice long passphrase');
    const deadline = Date.now() + 5000;
    let logins = 0;
    while (logins < 2 && Date.now() < deadline) {
      const list = (await as(t, alice.token, 'GET', '/api/v1/notifications')).json() as { items: { kind: string }[] };
      logins = list.items.filter((n) => n.kind === 'login.new').length;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(logins, 2);
    // Let the email consumer see the login's notification before counting.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(smtp.messages.filter((m) => m.to.includes('alice@mail.example')).length, 1);
    assert.equal(smtp.messages.filter((m) => m.to.includes('bob@mail.example')).length, 0);
    const logs = t.logs.text();
    assert.ok(logs.length > 0, 'the server logged (else the check below proves nothing)');
    for (const [form, secret] of PASSWORD_FORMS) assert.ok(!logs.includes(secret), `the SMTP password appears in the logs ${form}`);
  });
});
