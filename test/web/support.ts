import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { consoleDirectory } from '../../src/api/console.js';
import { createAdminAccount } from '../support/identity.js';
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server.js';

/**
 * The console in a real browser: Debian's Chromium, headless, driven by playwright-core,
 * against a real server (PGlite by default) serving the built console from web/dist/.
 */

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
export const PASSWORD = 'a long passphrase';
/**
 * Where the tests save their screenshots: the README's (docs/screenshots/) when
 * PCF_UPDATE_SCREENSHOTS=1, otherwise .cache/screenshots/, so an ordinary run does not
 * rewrite tracked images with its own random names and times.
 */
export const SCREENSHOTS = new URL(process.env.PCF_UPDATE_SCREENSHOTS === '1' ? '../../docs/screenshots/' : '../../.cache/screenshots/', import.meta.url)
  .pathname;

export interface ConsoleHarness {
  server: TestServer;
  browser: Browser;
  /** The console's URL: `${server.url}/console/`. */
  consoleUrl: string;
  /** A browser context (a separate person: own storage), with CSP violations and page errors recorded. */
  newPerson(options?: PersonOptions): Promise<Person>;
  close(): Promise<void>;
}

export interface PersonOptions {
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
  /** For axe-core, which is injected as an inline script (the console's own policy forbids it). */
  bypassCSP?: boolean;
}

export interface Person {
  context: BrowserContext;
  page: Page;
  /** Content-Security-Policy violations and uncaught errors seen so far: a test expects none. */
  problems: string[];
  /** Opens a console route (`/resources`), i.e. `consoleUrl#/resources`. */
  open(route?: string): Promise<void>;
  /** Signs in through the sign-in page and waits for the documents page. */
  signIn(email: string, password?: string): Promise<void>;
}

export function assertConsoleBuilt(): void {
  assert.ok(existsSync(join(consoleDirectory(), 'index.html')), 'web/dist/ has no console: run `npm run build` first');
}

export async function startConsole(kind: 'pglite' | 'postgres' = 'pglite', options: TestServerOptions = {}): Promise<ConsoleHarness> {
  assertConsoleBuilt();
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  const server = await startTestServer(kind, options).catch(async (error: unknown) => {
    await browser.close();
    throw error;
  });
  const consoleUrl = `${server.url}/console/`;
  const contexts: BrowserContext[] = [];
  return {
    server,
    browser,
    consoleUrl,
    async newPerson(personOptions = {}) {
      const context = await browser.newContext({
        viewport: personOptions.viewport ?? { width: 1280, height: 800 },
        colorScheme: personOptions.colorScheme ?? 'light',
        bypassCSP: personOptions.bypassCSP ?? false,
      });
      contexts.push(context);
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) problems.push(`csp: ${message.text()}`);
      });
      const person: Person = {
        context,
        page,
        problems,
        async open(route = '/') {
          await page.goto(`${consoleUrl}#${route}`);
        },
        async signIn(email, password = PASSWORD) {
          await person.open('/sign-in');
          await page.getByLabel('Email').fill(email);
          await page.getByLabel('Password').fill(password);
          await page.getByRole('button', { name: 'Sign in' }).click();
          await page.getByRole('heading', { level: 1, name: 'Documents' }).waitFor();
        },
      };
      return person;
    },
    async close() {
      for (const context of contexts) await context.close().catch(() => undefined);
      await browser.close();
      await server.close();
    },
  };
}

let accounts = 0;

/** A member account registered through the API (what the register page does is tested on its own). */
export async function registerMember(server: TestServer, name = 'Member'): Promise<{ email: string; id: string }> {
  accounts += 1;
  const email = `${name.toLowerCase().replace(/\W+/g, '.')}.${process.pid}.${accounts}@console.example`;
  const response = await fetch(`${server.url}/api/v1/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, name, password: PASSWORD }),
  });
  const body = await response.text();
  assert.equal(response.status, 201, body);
  const { user } = JSON.parse(body) as { user: { id: string } };
  return { email, id: user.id };
}

/** An administrator, made as `pcf users create --admin` makes one. */
export async function createAdmin(server: TestServer, name = 'Admin'): Promise<{ email: string; id: string }> {
  accounts += 1;
  const email = `${name.toLowerCase().replace(/\W+/g, '.')}.${process.pid}.${accounts}@console.example`;
  const user = await createAdminAccount(server, { email, name, password: PASSWORD });
  return { email, id: user.id };
}

/** Saves a screenshot for the README (docs/screenshots/NAME.png). */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: false });
}
