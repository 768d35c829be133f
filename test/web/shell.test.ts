import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerMember, startConsole, type ConsoleHarness } from './support.js';

/**
 * The console as the server serves it: from / with zero set-up, under a strict
 * Content-Security-Policy, with sign-in, and with every asset from this server.
 */
describe('console: served by the server', () => {
  let h: ConsoleHarness;
  before(async () => {
    h = await startConsole();
  });
  after(async () => {
    await h?.close();
  });

  it('redirects / to the console, relative so a path prefix survives', async () => {
    const response = await fetch(`${h.server.url}/`, { redirect: 'manual' });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), 'console/');
  });

  it('serves index.html revalidated, hashed assets immutable, and a strict policy on the page', async () => {
    const response = await fetch(h.consoleUrl);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    const policy = response.headers.get('content-security-policy') ?? '';
    assert.match(policy, /script-src 'self'(;|$)/);
    assert.match(policy, /style-src 'self'(;|$)/);
    assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval|https?:/);
    const html = await response.text();
    assert.doesNotMatch(html, /<script>|<script(?![^>]*\bsrc=)[^>]*>|<style/, 'no inline script or style');
    const script = /src="\.\/(assets\/console-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    assert.ok(script, html);
    const asset = await fetch(`${h.consoleUrl}${script}`);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    // Sent compressed as the build made it, to whoever accepts it.
    const raw = await fetch(`${h.consoleUrl}${script}`, { headers: { 'accept-encoding': 'identity' } });
    const compressed = await fetch(`${h.consoleUrl}${script}`, { headers: { 'accept-encoding': 'br' } });
    assert.equal(compressed.headers.get('content-encoding'), 'br');
    assert.match(compressed.headers.get('vary') ?? '', /accept-encoding/i);
    assert.equal(await compressed.text(), await raw.text(), 'the browser gets the same script either way');
  });

  it('answers an unknown console file with the problem body, not a page', async () => {
    const response = await fetch(`${h.consoleUrl}assets/nope.js`);
    assert.equal(response.status, 404);
    assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
  });

  it('loads from / in Chromium with nothing from another origin and no policy violation, and signs in', async () => {
    const member = await registerMember(h.server, 'Shell');
    const person = await h.newPerson();
    const foreign: string[] = [];
    person.page.on('request', (request) => {
      if (!request.url().startsWith(h.server.url)) foreign.push(request.url());
    });
    await person.page.goto(`${h.server.url}/`);
    // Signed out, the console sends the person to sign in.
    await person.page.getByRole('heading', { level: 1, name: 'Sign in' }).waitFor();
    await person.signIn(member.email);
    assert.ok(person.page.url().startsWith(h.consoleUrl));
    assert.deepEqual(foreign, []);
    assert.deepEqual(person.problems, []);
  });

  it('shows a wrong password as a readable error on the sign-in page', async () => {
    const member = await registerMember(h.server, 'Wrong');
    const person = await h.newPerson();
    await person.open('/sign-in');
    await person.page.getByLabel('Email').fill(member.email);
    await person.page.getByLabel('Password').fill('not the passphrase');
    await person.page.getByRole('button', { name: 'Sign in' }).click();
    const alert = person.page.getByRole('alert');
    await alert.waitFor();
    assert.match(await alert.innerText(), /email or password/i);
    assert.deepEqual(person.problems, []);
  });

  it('serves GraphiQL from this server: it renders offline, under its policy, and runs a query', async () => {
    const person = await h.newPerson();
    const foreign: string[] = [];
    person.page.on('request', (request) => {
      if (!request.url().startsWith(h.server.url)) foreign.push(request.url());
    });
    const queries: string[] = [];
    person.page.on('request', (request) => {
      if (request.url() === `${h.server.url}/graphql` && request.method() === 'POST') queries.push(request.postData() ?? '');
    });
    const introspected = person.page.waitForRequest(
      (request) => request.url() === `${h.server.url}/graphql` && (request.postData() ?? '').includes('IntrospectionQuery'),
    );
    await person.page.goto(`${h.server.url}/graphiql`);
    await person.page.locator('.graphiql-container').waitFor();
    await introspected;
    // GraphiQL asks for the schema at start: the page works end to end.
    assert.ok(
      queries.some((body) => body.includes('IntrospectionQuery')),
      'GraphiQL fetched the schema from /graphql',
    );
    assert.deepEqual(foreign, []);
    assert.deepEqual(person.problems, []);
  });
});
