/**
 * `npm run bench:hostile`: one self-registered member (and one anonymous client) attacks a
 * PCF server on its production defaults, within the server's own rate limits, while a probe
 * measures `GET /health` every 100 ms. Reports, per attack, what the server answered the
 * attacker, the probe's latency (p50, p99, max), the server's CPU time and its RSS, so a
 * member who can stall or exhaust the server shows up as probe latency or growth. See
 * bench/README.md ("Hostile member").
 *
 * The server runs from the build (dist/) in a child process on a fresh embedded data
 * directory (the zero-setup default, registration open), as `npm start` would run it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuTimeMs, installCleanupHandlers, rssMb, sleep, stopAllChildren } from './processes.js';
import { pcfBuilt, pcfEntry, startPcfServer, type RunningServer } from './servers.js';

const SECONDS = Number(process.env.BENCH_HOSTILE_SECONDS ?? 10);
const log = (msg: string) => console.error(`bench:hostile: ${msg}`);

interface Probe {
  latencies: number[];
  failures: Map<string, number>;
}

/** Calls /health every 100 ms until stopped; a call that answers anything but 200 is a failure. */
function startProbe(baseUrl: string): { stop(): Promise<Probe> } {
  const probe: Probe = { latencies: [], failures: new Map() };
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      try {
        const res = await fetch(`${baseUrl}/health`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status !== 200) probe.failures.set(String(res.status), (probe.failures.get(String(res.status)) ?? 0) + 1);
      } catch (err) {
        const name = (err as Error).name;
        probe.failures.set(name, (probe.failures.get(name) ?? 0) + 1);
      }
      probe.latencies.push(performance.now() - started);
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return probe;
    },
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length - 1) * p))] ?? NaN;

interface Client {
  baseUrl: string;
  token?: string;
}

async function call(
  c: Client,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(`${c.baseUrl}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(c.token ? { authorization: `Bearer ${c.token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(60_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** The status (and problem code, when there is one) of an answer, for the outcome histogram. */
function outcome(r: { status: number; json: unknown }): string {
  type Body = { code?: string; errors?: { extensions?: { code?: string } }[] } | undefined;
  // A GraphQL batch answers an array: its operations' error codes, each once.
  const bodies = (Array.isArray(r.json) ? r.json : [r.json]) as Body[];
  const codes = [...new Set(bodies.map((body) => body?.code ?? body?.errors?.[0]?.extensions?.code).filter((c) => c !== undefined))];
  return codes.length > 0 ? `${r.status} ${codes.join('+')}` : String(r.status);
}

async function member(baseUrl: string, email: string, headers: Record<string, string> = {}): Promise<Client> {
  const password = `${email} passphrase`;
  const reg = await call({ baseUrl }, 'POST', '/api/v1/auth/register', { email, name: email.split('@')[0], password }, headers);
  if (reg.status !== 201) throw new Error(`register ${email}: ${reg.status} ${reg.text.slice(0, 200)}`);
  const login = await call({ baseUrl }, 'POST', '/api/v1/auth/login', { email, password }, headers);
  if (login.status !== 200) throw new Error(`login ${email}: ${login.status} ${login.text.slice(0, 200)}`);
  return { baseUrl, token: (login.json as { token: string }).token };
}

interface Attack {
  name: string;
  /** What the attacker does, in one sentence. */
  does: string;
  /** Prepares, then returns one attacking request (called repeatedly at `perSecond`). */
  setup(server: RunningServer): Promise<() => Promise<string>>;
  /** Requests per second: within the budget the attacker has (user 1200/min, anonymous 300/min). */
  perSecond: number;
  /** After the attack: what its victim sees, in one line. */
  aftermath?: () => Promise<string>;
}

/** Two ~1 MiB versions shaped against a diff budget: ~46 objects of ~1,300 keys, one key changed in each. */
function wideObjects(changed: boolean): unknown[] {
  return Array.from({ length: 46 }, (_, i) =>
    Object.fromEntries(Array.from({ length: 1300 }, (_, k) => [`k${k}`, changed && k === i ? 'changed' : `v${i}-${k}`])),
  );
}

const attacks: Attack[] = [
  {
    name: 'idle',
    does: 'nothing (the probe alone, for reference)',
    perSecond: 1,
    setup: async () => async () => 'none',
  },
  {
    name: 'diff',
    does: 'diffs two 1 MiB versions shaped against the diff budget, over and over',
    perSecond: 15,
    setup: async (server) => {
      const m = await member(server.baseUrl, 'differ@hostile.example');
      const created = await call(m, 'POST', '/api/v1/resources', { name: 'wide', type: 'doc', data: wideObjects(false) });
      if (created.status !== 201) throw new Error(`create: ${created.status} ${created.text.slice(0, 200)}`);
      const id = (created.json as { id: string }).id;
      const patched = await call(m, 'PATCH', `/api/v1/resources/${id}`, { data: wideObjects(true) });
      if (patched.status !== 200) throw new Error(`patch: ${patched.status} ${patched.text.slice(0, 200)}`);
      return async () => outcome(await call(m, 'GET', `/api/v1/resources/${id}/diff?from=1&to=2`));
    },
  },
  {
    name: 'graphql-long-q',
    does: 'lists resources through GraphQL with a 1 MB search string q (under graphql.maxVariablesBytes)',
    perSecond: 2,
    setup: async (server) => {
      const m = await member(server.baseUrl, 'searcher@hostile.example');
      for (let i = 0; i < 50; i++) await call(m, 'POST', '/api/v1/resources', { name: `doc ${i}`, type: 'doc', data: { i } });
      const body = { query: 'query($q: String) { resources(q: $q) { edges { node { id } } } }', variables: { q: 'x'.repeat(1_000_000) } };
      return async () => outcome(await call(m, 'POST', '/graphql', body));
    },
  },
  {
    name: 'graphql-refused',
    does: 'sends anonymous 19 KB documents of 1,200 repeated fields (refused), at the anonymous budget',
    perSecond: 5,
    setup: async (server) => {
      // 1,200 copies of one field: under graphql.maxTokens, so only validation can refuse it.
      const body = { query: `{ ${'me { id } '.repeat(1200)}}` };
      const c = { baseUrl: server.baseUrl };
      return async () => outcome(await call(c, 'POST', '/graphql', body));
    },
  },
  {
    name: 'graphql-batch-writes',
    does: 'sends batches of 10 operations of 15 aliased createResource each',
    perSecond: 2,
    setup: async (server) => {
      const m = await member(server.baseUrl, 'batcher@hostile.example');
      const aliases = Array.from({ length: 15 }, (_, i) => `c${i}: createResource(input: {name: "n${i}", type: "doc", data: {i: ${i}}}) { id }`).join(' ');
      const batch = Array.from({ length: 10 }, () => ({ query: `mutation { ${aliases} }` }));
      return async () => outcome(await call(m, 'POST', '/graphql', batch));
    },
  },
  {
    name: 'shares',
    does: 'shares its resources with itself and with a second account of its own, as fast as allowed',
    perSecond: 15,
    setup: async (server) => {
      const m = await member(server.baseUrl, 'sharer@hostile.example');
      const other = await member(server.baseUrl, 'sharer2@hostile.example');
      const me = ((await call(m, 'GET', '/api/v1/auth/me')).json as { user: { id: string } }).user;
      const them = ((await call(other, 'GET', '/api/v1/auth/me')).json as { user: { id: string } }).user;
      let n = 0;
      return async () => {
        const created = await call(m, 'POST', '/api/v1/resources', { name: `s${n}`, type: 'doc', data: { n } });
        if (created.status !== 201) return `create ${outcome(created)}`;
        const id = (created.json as { id: string }).id;
        n++;
        return outcome(await call(m, 'POST', `/api/v1/resources/${id}/shares`, { userId: n % 2 === 0 ? me.id : them.id, actions: ['read', 'update'] }));
      };
    },
  },
  {
    name: 'versions',
    does: 'writes a new 1 MiB version of one resource, over and over (immutable history)',
    perSecond: 15,
    setup: async (server) => {
      const m = await member(server.baseUrl, 'writer@hostile.example');
      const created = await call(m, 'POST', '/api/v1/resources', { name: 'big', type: 'doc', data: { n: 0 } });
      const id = (created.json as { id: string }).id;
      let n = 0;
      const filler = 'x'.repeat(1_000_000);
      return async () => outcome(await call(m, 'PATCH', `/api/v1/resources/${id}`, { data: { n: ++n, filler } }));
    },
  },
  {
    name: 'lockout',
    does: 'guesses the password of another account from its own address (the victim then signs in from its usual one)',
    perSecond: 2,
    setup: async function (this: Attack, server) {
      const victimAddress = { 'x-forwarded-for': '198.51.100.7' };
      await member(server.baseUrl, 'victim@hostile.example', victimAddress);
      const c = { baseUrl: server.baseUrl };
      this.aftermath = async () => {
        const victim = await call(
          c,
          'POST',
          '/api/v1/auth/login',
          { email: 'victim@hostile.example', password: 'victim@hostile.example passphrase' },
          victimAddress,
        );
        return `the victim signs in from its usual address: ${outcome(victim)}`;
      };
      return async () =>
        outcome(
          await call(c, 'POST', '/api/v1/auth/login', { email: 'victim@hostile.example', password: 'not the password' }, { 'x-forwarded-for': '203.0.113.9' }),
        );
    },
  },
];

async function runAttack(server: RunningServer, attack: Attack): Promise<void> {
  const fire = await attack.setup.call(attack, server);
  const outcomes = new Map<string, number>();
  const cpuBefore = (await cpuTimeMs(server.child.pid)) ?? NaN;
  const probe = startProbe(server.baseUrl);
  const started = Date.now();
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  while (Date.now() - started < SECONDS * 1000) {
    const p: Promise<void> = fire()
      .then((o) => void outcomes.set(o, (outcomes.get(o) ?? 0) + 1))
      .catch((err: Error) => void outcomes.set(`error ${err.name}`, (outcomes.get(`error ${err.name}`) ?? 0) + 1))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
    sent++;
    await sleep(1000 / attack.perSecond);
  }
  await Promise.all(inFlight);
  const result = await probe.stop();
  const cpu = ((await cpuTimeMs(server.child.pid)) ?? NaN) - cpuBefore;
  const rss = await rssMb(server.child.pid);
  const sorted = [...result.latencies].sort((a, b) => a - b);
  const failures = [...result.failures].map(([k, v]) => `${k}×${v}`).join(' ') || 'none';
  console.log(`\n${attack.name}: ${attack.does}`);
  console.log(`  attacker: ${sent} requests → ${[...outcomes].map(([k, v]) => `${k} ×${v}`).join(', ')}`);
  console.log(
    `  /health: p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(1)} ms over ${sorted.length} probes; failures: ${failures}`,
  );
  if (attack.aftermath) console.log(`  afterwards: ${await attack.aftermath()}`);
  console.log(`  server: ${cpu.toFixed(0)} ms CPU (${(cpu / sent).toFixed(1)} ms per attacking request), RSS ${rss ?? '?'} MB after`);
}

async function main(): Promise<void> {
  installCleanupHandlers();
  const entry = pcfEntry(process.env.BENCH_PCF_ENTRY);
  if (!pcfBuilt(entry)) throw new Error(`no build at ${entry}: run npm run build first (npm run bench:hostile does)`);
  const only = process.argv.slice(2);
  const selected = only.length > 0 ? attacks.filter((a) => a.name === 'idle' || only.includes(a.name)) : attacks;
  const unknown = only.filter((n) => !attacks.some((a) => a.name === n));
  if (unknown.length > 0) throw new Error(`unknown attack(s): ${unknown.join(', ')}; known: ${attacks.map((a) => a.name).join(', ')}`);
  log(`${selected.length} attacks, ${SECONDS} s each, on a fresh embedded server (production profile, default budgets)`);
  for (const attack of selected) {
    // A fresh server per attack: one attack's leftovers (heap, history, counters) never weigh on the next.
    const dataDir = mkdtempSync(join(tmpdir(), 'pcf-hostile-'));
    const server = await startPcfServer(entry, '', 120_000, {
      label: `pcf-${attack.name}`,
      env: { PCF_DATABASE_URL: '', PCF_DATA_DIR: dataDir, PCF_HTTP_TRUST_PROXY: '127.0.0.1' },
    });
    try {
      await runAttack(server, attack);
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}

main()
  .catch((err: Error) => {
    console.error(`bench:hostile: ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => stopAllChildren());
