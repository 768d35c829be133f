/**
 * `npm run bench -- pipeline-cpu` (or `node --import tsx bench/pipeline-cpu.ts`): the CPU
 * time one request costs PCF's HTTP pipeline, in process, without sockets. A PCF server on
 * embedded PGlite (a temporary directory; the rate limiter on, with the bench's budgets) and
 * a bare Fastify app answer `app.inject()` requests one after another; each path's figure is
 * `process.cpuUsage()` over BENCH_PIPELINE_REQUESTS requests (default 20,000) after as many
 * unmeasured ones, the best of three passes. BENCH_PIPELINE_ONLY=resource-get,… measures some
 * of the paths only (the bare one always).
 *
 * CPU time rather than wall time, and no load generator on the same cores: the figures
 * change little when other processes busy the machine, unlike the load scenarios', so they
 * show what a change to the hooks, authentication, rate limiting, logging or metrics saves
 * per request. light-my-request's own cost is in every figure, the bare route's included.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify';
import type { Server } from '../src/server.js';
import { BENCH_RATE_LIMIT } from './rate-limit.js';
import { sampleData } from './resources.js';

interface PathCost {
  name: string;
  request: string;
  /** CPU microseconds per request: the best pass. */
  cpuUs: number;
  /** The passes, for their spread. */
  passesUs: number[];
}

type Inject = (options: InjectOptions) => Promise<{ statusCode: number; body: string }>;

/**
 * BENCH_PIPELINE_SRC: another source tree's `src` to measure (e.g. an older commit's, from
 * `git archive`), for before-and-after figures in one process setup; this tree's by default.
 */
async function startPcf(dataDir: string): Promise<Server> {
  const src = process.env.BENCH_PIPELINE_SRC ? resolve(process.env.BENCH_PIPELINE_SRC) : fileURLToPath(new URL('../src', import.meta.url));
  const { loadConfig } = (await import(pathToFileURL(join(src, 'core/config/index.ts')).href)) as typeof import('../src/core/config/index.js');
  const { createLogger } = (await import(pathToFileURL(join(src, 'infra/telemetry/logger.ts')).href)) as typeof import('../src/infra/telemetry/logger.js');
  const { createServer } = (await import(pathToFileURL(join(src, 'server.ts')).href)) as typeof import('../src/server.js');
  const { config } = loadConfig({
    flags: {
      host: '127.0.0.1',
      port: 0,
      logLevel: 'warn',
      dataDir,
      'rateLimit.enabled': true,
      'rateLimit.windowSeconds': BENCH_RATE_LIMIT.windowSeconds,
      'rateLimit.anonymousPerWindow': BENCH_RATE_LIMIT.anonymousPerWindow,
      'rateLimit.userPerWindow': BENCH_RATE_LIMIT.userPerWindow,
      'rateLimit.authPerWindow': BENCH_RATE_LIMIT.authPerWindow,
      'rateLimit.graphqlPointsPerWindow': BENCH_RATE_LIMIT.graphqlPointsPerWindow,
      'rateLimit.bodyBytesPerWindow': BENCH_RATE_LIMIT.bodyBytesPerWindow,
    },
  });
  const server = await createServer(config, createLogger({ level: 'warn' }));
  await server.start();
  await server.ready;
  return server;
}

/** The least a Fastify route can do with the same answer shape, for reference. */
function bareApp(body: unknown): FastifyInstance {
  const app = Fastify({ logger: false });
  app.get('/bare/:id', async () => body);
  return app;
}

async function expectOk(inject: Inject, options: InjectOptions): Promise<string> {
  const response = await inject(options);
  if (response.statusCode >= 300) throw new Error(`${JSON.stringify(options).slice(0, 200)}: ${response.statusCode} ${response.body.slice(0, 300)}`);
  return response.body;
}

async function cpuPerRequest(name: string, request: string, inject: Inject, options: InjectOptions, n: number): Promise<PathCost> {
  await expectOk(inject, options);
  for (let i = 0; i < n; i++) await inject(options);
  const passesUs: number[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const before = process.cpuUsage();
    for (let i = 0; i < n; i++) await inject(options);
    const used = process.cpuUsage(before);
    passesUs.push((used.user + used.system) / n);
  }
  return { name, request, cpuUs: Math.min(...passesUs), passesUs };
}

export async function runPipelineCpu(): Promise<PathCost[]> {
  const n = Number(process.env.BENCH_PIPELINE_REQUESTS ?? 20_000);
  const dataDir = await mkdtemp(join(tmpdir(), 'pcf-pipeline-cpu-'));
  const server = await startPcf(dataDir);
  try {
    const inject: Inject = (options) => server.app.inject(options);
    const password = 'correct horse battery staple';
    const signIn = async (email: string) => {
      await expectOk(inject, { method: 'POST', url: '/api/v1/auth/register', payload: { email, password, name: email.split('@')[0] } });
      const body = await expectOk(inject, { method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
      return (JSON.parse(body) as { token: string }).token;
    };
    await signIn('pipeline-admin@example.com'); // the first account is the admin
    const token = await signIn('pipeline-member@example.com');
    const headers = { authorization: `Bearer ${token}` };
    const created = await expectOk(inject, {
      method: 'POST',
      url: '/api/v1/resources',
      headers,
      payload: { name: 'Bench doc', type: 'doc', data: sampleData(1) },
    });
    const resource = JSON.parse(created) as { id: string };
    const bare = bareApp(JSON.parse(created));
    await bare.ready();
    const query = 'query Resource($id: ID!) { resource(id: $id) { id name version data } }';
    const only = process.env.BENCH_PIPELINE_ONLY?.split(',');
    const wanted = (name: string) => !only || only.includes(name);
    const costs = [
      await cpuPerRequest(
        'bare',
        'bare Fastify GET returning the same resource JSON',
        (options) => bare.inject(options),
        { method: 'GET', url: `/bare/${resource.id}` },
        n,
      ),
      wanted('health') && (await cpuPerRequest('health', 'GET /health', inject, { method: 'GET', url: '/health' }, n)),
      wanted('auth-me') && (await cpuPerRequest('auth-me', 'GET /api/v1/auth/me', inject, { method: 'GET', url: '/api/v1/auth/me', headers }, n)),
      wanted('resource-get') &&
        (await cpuPerRequest('resource-get', 'GET /api/v1/resources/{id}', inject, { method: 'GET', url: `/api/v1/resources/${resource.id}`, headers }, n)),
      wanted('graphql-resource') &&
        (await cpuPerRequest(
          'graphql-resource',
          'POST /graphql resource(id)',
          inject,
          { method: 'POST', url: '/graphql', headers, payload: { query, variables: { id: resource.id } } },
          n,
        )),
    ].filter((c): c is PathCost => c !== false);
    await bare.close();
    return costs;
  } finally {
    await server.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

export function formatPipelineCpu(costs: PathCost[]): string {
  const bare = costs.find((c) => c.name === 'bare')?.cpuUs;
  const lines = ['path              CPU µs/request  (passes)             × bare  request'];
  for (const c of costs) {
    const passes = c.passesUs.map((us) => us.toFixed(1)).join(', ');
    const ratio = bare ? `${(c.cpuUs / bare).toFixed(2)}×` : '—';
    lines.push(`${c.name.padEnd(16)}  ${c.cpuUs.toFixed(1).padStart(14)}  (${passes})`.padEnd(56) + `${ratio.padStart(6)}  ${c.request}`);
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  console.log(formatPipelineCpu(await runPipelineCpu()));
}
