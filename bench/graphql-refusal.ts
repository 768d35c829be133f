/**
 * CPU per refused GraphQL document (issue 12, point 3): `npm run bench -- graphql-refusal`.
 *
 * A server runs in this process on an in-memory PGlite database, without rate limits, and
 * each document is sent N times through `app.inject()`; `process.cpuUsage()` around those
 * N requests, divided by N, is what the server spent on one (inject's own share included,
 * the same for every row: the `{ __typename }` row shows it). Each document runs on two
 * servers: with the default limits, and with `graphql.maxSelections` out of the way, which is
 * how the server behaved before the selection count was added (the 1,200-field document was
 * refused then too, but only by the cost limit, after validation).
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../src/core/config/index.js';
import { createLogger } from '../src/infra/telemetry/logger.js';
import { createServer, type Server } from '../src/server.js';

interface Case {
  name: string;
  query: string;
}

const REPEATS = Number(process.env.BENCH_REFUSAL_REPEATS ?? 30);

/** The documents: a cheap accepted one for reference, then the refused ones. */
function cases(): Case[] {
  const fragments = Array.from({ length: 450 }, (_, i) => `fragment F${i} on Query { __typename }`).join('\n');
  return [
    { name: 'accepted { __typename } (reference)', query: '{ __typename }' },
    // The document: 19 KB, anonymous, 1,200 repeated fields.
    { name: '1,200 repeated `server { name }` (19 KB)', query: `{ ${'server {  name } '.repeat(1200)} }` },
    { name: '450 distinct fragments spread (20 KB)', query: `{ ${Array.from({ length: 450 }, (_, i) => `...F${i}`).join(' ')} }\n${fragments}` },
    { name: '5,001+ tokens (refused while parsing)', query: `{ ${'__typename '.repeat(6000)} }` },
  ];
}

const silent = new Writable({ write: (_chunk, _encoding, done) => done() });

async function start(flags: Record<string, unknown>): Promise<Server> {
  const { config } = loadConfig({ flags: { host: '127.0.0.1', port: 0, logLevel: 'warn', 'rateLimit.enabled': false, ...flags } });
  const server = await createServer(config, createLogger({ level: 'warn', destination: silent }), { database: { kind: 'pglite', dataDir: undefined } });
  await server.start();
  await server.ready;
  return server;
}

/**
 * Milliseconds of CPU (user + system) per request, and the status the document got. Each
 * request's text differs (a comment), as an attacker's would: mercurius caches parsed and
 * validated documents by their text, and a cached one costs next to nothing.
 */
let sent = 0;
async function measure(server: Server, query: string): Promise<{ cpuMs: number; status: number; code: string }> {
  const send = () => server.app.inject({ method: 'POST', url: '/graphql', payload: { query: `${query}\n# ${++sent}` } });
  const first = await send(); // warm-up
  const body = first.json() as { errors?: { extensions?: { code?: string } }[] };
  const before = process.cpuUsage();
  for (let i = 0; i < REPEATS; i++) await send();
  const used = process.cpuUsage(before);
  return { cpuMs: (used.user + used.system) / 1000 / REPEATS, status: first.statusCode, code: body.errors?.[0]?.extensions?.code ?? '-' };
}

export async function runGraphqlRefusal(): Promise<number> {
  const rows: string[] = [];
  const servers = [
    { label: 'now', flags: {} },
    { label: 'without maxSelections', flags: { 'graphql.maxSelections': 100_000 } },
  ];
  const results = new Map<string, Map<string, Awaited<ReturnType<typeof measure>>>>();
  for (const { label, flags } of servers) {
    const server = await start(flags);
    try {
      const byCase = new Map<string, Awaited<ReturnType<typeof measure>>>();
      for (const c of cases()) byCase.set(c.name, await measure(server, c.query));
      results.set(label, byCase);
    } finally {
      await server.stop();
    }
  }
  rows.push(`GraphQL refusal: CPU ms per request (${REPEATS} requests each, in-process, anonymous)`);
  rows.push(`${'document'.padEnd(44)} ${servers.map((s) => s.label.padStart(28)).join(' ')}`);
  for (const c of cases()) {
    const cells = servers.map((s) => {
      const r = results.get(s.label)!.get(c.name)!;
      return `${r.cpuMs.toFixed(2)} ms (${r.status} ${r.code})`.padStart(28);
    });
    rows.push(`${c.name.padEnd(44)} ${cells.join(' ')}`);
  }
  console.log(rows.join('\n'));
  return 0;
}
