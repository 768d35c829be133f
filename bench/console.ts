/**
 * The web console's weight and speed (issue 15's figures): the size of what a first visit
 * downloads (raw, gzip, brotli), and in Debian's headless Chromium against a local server,
 * a cold first load (no cache) and a warm one: time to the response, DOMContentLoaded, load,
 * and to interactive (the page's form rendered and usable), for the sign-in page and, signed
 * in, for the documents list with 50 documents. Medians of BENCH_CONSOLE_RUNS (default 7).
 *
 *   npm run build && node --import tsx bench/console.ts
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { consoleDirectory } from '../src/api/console.js';
import { startInProcess } from './cpu-per-request.js';

const RUNS = Number(process.env.BENCH_CONSOLE_RUNS ?? 7);
const PASSWORD = 'a long passphrase';

interface Timing {
  response: number;
  domContentLoaded: number;
  load: number;
  interactive: number;
}

function kb(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KB`;
}

/** What the first visit to the sign-in page downloads, and the chunks loaded later. */
function sizes(): void {
  const dir = consoleDirectory();
  const html = readFileSync(join(dir, 'index.html'), 'utf8');
  const first = [...html.matchAll(/(?:src|href)="\.\/(assets\/[^"]+)"/g)].map((m) => m[1]!);
  const all = readdirSync(join(dir, 'assets')).filter((f) => /\.(js|css)$/.test(f));
  const row = (files: string[]) => {
    const bytes = files.map((f) => readFileSync(join(dir, f.startsWith('assets/') ? f : `assets/${f}`)));
    const sum = (f: (b: Buffer) => number) => bytes.reduce((n, b) => n + f(b), 0);
    return `${kb(sum((b) => b.length))} raw, ${kb(sum((b) => gzipSync(b, { level: 9 }).length))} gzip, ${kb(sum((b) => brotliCompressSync(b).length))} brotli`;
  };
  console.log(`first load (index.html's script and stylesheet, ${first.length} files): ${row(first)}`);
  console.log(`every script and stylesheet (${all.length} files, incl. lazily loaded chunks): ${row(all)}`);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** One visit in a fresh context (cold) or the same context again (warm). */
async function visit(context: BrowserContext, url: string, ready: string): Promise<Timing> {
  const page = await context.newPage();
  // Records when the ready element first exists, from inside the page (no polling delay).
  // Page code is given as text: this file is compiled without the DOM's types.
  await page.addInitScript({
    content: `new MutationObserver((_m, observer) => {
      if (document.querySelector(${JSON.stringify(ready)})) { window.__ready = performance.now(); observer.disconnect(); }
    }).observe(document, { childList: true, subtree: true });`,
  });
  await page.goto(url, { waitUntil: 'load' });
  await page.waitForSelector(ready);
  const timing = await page.evaluate<Timing>(`(() => {
    const [nav] = performance.getEntriesByType('navigation');
    return { response: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd, interactive: window.__ready };
  })()`);
  await page.close();
  return timing;
}

function report(label: string, timings: Timing[]): void {
  const f = (key: keyof Timing) => `${median(timings.map((t) => t[key])).toFixed(0)} ms`;
  console.log(`${label}: response ${f('response')}, DOMContentLoaded ${f('domContentLoaded')}, load ${f('load')}, interactive ${f('interactive')}`);
}

async function measure(browser: Browser, url: string, ready: string, label: string, prepare?: (context: BrowserContext) => Promise<void>) {
  const cold: Timing[] = [];
  const warm: Timing[] = [];
  for (let i = 0; i < RUNS; i += 1) {
    const context = await browser.newContext();
    await prepare?.(context);
    cold.push(await visit(context, url, ready));
    warm.push(await visit(context, url, ready));
    await context.close();
  }
  report(`${label}, cold`, cold);
  report(`${label}, warm`, warm);
}

sizes();
const server = await startInProcess();
const base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
});
try {
  const consoleUrl = `${base}/console/`;
  await measure(browser, `${consoleUrl}#/sign-in`, 'form input[type=email]', 'sign-in page');

  const email = `bench.${Date.now()}@console.example`;
  const post = (path: string, body: unknown, token?: string) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  await post('/api/v1/auth/register', { email, name: 'Bench', password: PASSWORD });
  const { token } = (await (await post('/api/v1/auth/login', { email, password: PASSWORD })).json()) as { token: string };
  for (let i = 0; i < 50; i += 1) await post('/api/v1/resources', { name: `Document ${i}`, type: 'doc', data: { i } }, token);
  // Signed in as the console signs in: the token in its localStorage key, before the page runs.
  await measure(browser, `${consoleUrl}#/resources`, 'main table tbody tr', 'documents list (50), signed in', async (context) => {
    await context.addInitScript({ content: `localStorage.setItem('pcf.console.token', ${JSON.stringify(token)})` });
  });
} finally {
  await browser.close();
  await server.stop();
}
