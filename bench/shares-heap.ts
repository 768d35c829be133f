/**
 * `npm run bench -- shares-heap` (or `node --expose-gc --import tsx bench/shares-heap.ts`):
 * what many shares cost one account (issue 12 point 4). Owner B shares N resources with
 * recipient A one at a time, and A makes a request after each share, so every grant change
 * is seen (and its ability compiled) as it would be by an active user. Reported: the heap
 * (after a full GC when `--expose-gc` is given) at checkpoints, and the median time of A's
 * `GET /api/v1/resources?limit=50` with N shares, warm and after a restart on the same data.
 *
 * In-process, on embedded PGlite in a temporary directory, so nothing else needs to run.
 * BENCH_SHARES (default 2200) sets N; the share caps are raised to N for the run.
 * BENCH_SHARES_ACTIVE=0 skips the recipient's request after each share (only the lists at
 * the end then compile its ability).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/core/config/index.js';
import { createLogger } from '../src/infra/telemetry/logger.js';
import { createServer, type Server } from '../src/server.js';

export interface SharesHeapResult {
  shares: number;
  heapMb: { shares: number; heapUsedMb: number }[];
  listMedianMs: number;
  listAfterRestartMedianMs: number;
  listedItems: number;
}

const LIST_SAMPLES = 21;

async function start(dataDir: string, n: number): Promise<Server> {
  const { config } = loadConfig({
    flags: {
      host: '127.0.0.1',
      port: 0,
      logLevel: 'warn',
      dataDir,
      'rateLimit.enabled': false,
      'resources.maxSharesPerResource': Math.max(n, 100),
      // One owner shares all n with one user: that takes a tenth of maxSharesPerUser >= n.
      'resources.maxSharesPerUser': Math.min(Math.max(n * 10, 1000), 1_000_000),
    },
  });
  const server = await createServer(config, createLogger({ level: 'warn' }));
  await server.start();
  await server.ready;
  return server;
}

type Call = (method: 'GET' | 'POST', url: string, token?: string, payload?: unknown) => Promise<{ statusCode: number; json(): unknown; body: string }>;

function caller(server: Server): Call {
  return async (method, url, token, payload) => {
    const response = await server.app.inject({
      method,
      url,
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
      ...(payload !== undefined ? { payload: payload as object } : {}),
    });
    if (response.statusCode >= 400) throw new Error(`${method} ${url}: ${response.statusCode} ${response.body.slice(0, 300)}`);
    return response;
  };
}

/** The first account registered is an admin: the owner here; the recipient is a member. */
async function signIn(call: Call, email: string, register: boolean): Promise<{ token: string; id: string }> {
  const password = 'correct horse battery staple';
  if (register) await call('POST', '/api/v1/auth/register', undefined, { email, password, name: email.split('@')[0] });
  const response = await call('POST', '/api/v1/auth/login', undefined, { email, password });
  const session = response.json() as { token: string; user: { id: string } };
  return { token: session.token, id: session.user.id };
}

function heapMb(): number {
  (globalThis as { gc?: () => void }).gc?.();
  return Math.round((process.memoryUsage().heapUsed / 1024 / 1024) * 10) / 10;
}

async function listMedian(call: Call, token: string): Promise<{ ms: number; items: number }> {
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < LIST_SAMPLES; i++) {
    const started = process.hrtime.bigint();
    const page = (await call('GET', '/api/v1/resources?limit=50', token)).json() as { items: unknown[] };
    times.push(Number(process.hrtime.bigint() - started) / 1e6);
    items = page.items.length;
  }
  times.sort((a, b) => a - b);
  return { ms: Math.round(times[Math.floor(times.length / 2)]! * 10) / 10, items };
}

export async function runSharesHeap(n = Number(process.env.BENCH_SHARES ?? 2200), active = process.env.BENCH_SHARES_ACTIVE !== '0'): Promise<SharesHeapResult> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pcf-shares-heap-'));
  try {
    let server = await start(dataDir, n);
    let call = caller(server);
    const owner = await signIn(call, 'owner@bench.test', true);
    let recipient = await signIn(call, 'recipient@bench.test', true);
    const heap = [{ shares: 0, heapUsedMb: heapMb() }];
    const every = Math.max(1, Math.floor(n / 10));
    for (let i = 1; i <= n; i++) {
      const doc = (await call('POST', '/api/v1/resources', owner.token, { name: `doc ${i}`, type: 'doc', data: { i } })).json() as { id: string };
      await call('POST', `/api/v1/resources/${doc.id}/shares`, owner.token, { userId: recipient.id, actions: ['read', 'update'] });
      // The recipient acts after every grant change, as an active user would.
      if (active) await call('GET', '/api/v1/resources?limit=1', recipient.token);
      if (i % every === 0 || i === n) {
        heap.push({ shares: i, heapUsedMb: heapMb() });
        console.error(`shares-heap: ${i}/${n} shares, heap ${heap[heap.length - 1]!.heapUsedMb} MB`);
      }
    }
    const warm = await listMedian(call, recipient.token);
    await server.stop();
    server = await start(dataDir, n);
    call = caller(server);
    recipient = await signIn(call, 'recipient@bench.test', false);
    const cold = await listMedian(call, recipient.token);
    await server.stop();
    return { shares: n, heapMb: heap, listMedianMs: warm.ms, listAfterRestartMedianMs: cold.ms, listedItems: warm.items };
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  runSharesHeap().then(
    (result) => console.log(JSON.stringify(result, null, 2)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
