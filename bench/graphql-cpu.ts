/**
 * CPU per request of GraphQL `resource(id)` against REST GET /api/v1/resources/{id} (issue
 * 13): `npm run bench -- graphql-cpu`.
 *
 * A server runs in this process on an in-memory PGlite database, with the rate limiter on
 * (budgets no run reaches, as in the load scenarios: bench/rate-limit.ts), a member signs in
 * and creates one resource, and both requests are sent through `app.inject()`. Each round
 * times `BENCH_CPU_REQUESTS` requests of each kind with `process.cpuUsage()` (user + system,
 * divided by the count), alternating REST and GraphQL so that drift on a shared machine
 * falls on both; the median and the spread of the rounds are reported. inject's own share is
 * in both figures alike, so the difference is GraphQL's overhead; the same query over GET
 * tells the POST body's share (reading and parsing it) from GraphQL's own. Run it with
 * `NODE_ENV=production`, as the load scenarios' servers run (graphql-js checks its types
 * more slowly otherwise). Profile the same loop with
 * `BENCH_CPU_ONLY=graphql node --cpu-prof --import tsx bench/run.ts graphql-cpu`.
 */
import { cpuPerRequest, expectOk, median, startInProcess } from './cpu-per-request.js';
import type { Server } from '../src/server.js';
import { sampleData } from './resources.js';

const REQUESTS = Number(process.env.BENCH_CPU_REQUESTS ?? 3000);
const ROUNDS = Number(process.env.BENCH_CPU_ROUNDS ?? 5);
/** `graphql`, `graphql-get` or `rest` times only that kind, for a profile of one (`--cpu-prof`). */
const ONLY = process.env.BENCH_CPU_ONLY;
const PASSWORD = 'bench-cpu-password-1';
/** The document of the load scenario graphql-resource (bench/scenarios.ts). */
const QUERY = 'query Resource($id: ID!) { resource(id: $id) { id name version data } }';

/** A member (the first account registered becomes the admin, so a second one reads), signed in, with one resource. */
async function member(server: Server): Promise<{ authorization: string; id: string }> {
  const app = server.app;
  for (const email of ['cpu-admin@bench.test', 'cpu-member@bench.test']) {
    await expectOk(app.inject({ method: 'POST', url: '/api/v1/auth/register', payload: { email, name: 'Bench CPU', password: PASSWORD } }), 'register');
  }
  const session = JSON.parse(
    await expectOk(app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'cpu-member@bench.test', password: PASSWORD } }), 'login'),
  ) as { token: string };
  const authorization = `Bearer ${session.token}`;
  const created = JSON.parse(
    await expectOk(
      app.inject({
        method: 'POST',
        url: '/api/v1/resources',
        headers: { authorization },
        payload: { name: 'Bench CPU doc', type: 'doc', data: sampleData(1) },
      }),
      'create',
    ),
  ) as { id: string };
  return { authorization, id: created.id };
}

export async function runGraphqlCpu(): Promise<number> {
  const server = await startInProcess();
  try {
    const { authorization, id } = await member(server);
    const headers = { authorization };
    const payload = { query: QUERY, variables: { id } };
    const rest = () => server.app.inject({ method: 'GET', url: `/api/v1/resources/${id}`, headers });
    const graphql = () => server.app.inject({ method: 'POST', url: '/graphql', headers, payload });
    // The same operation without a body: what is left is GraphQL's own share, not the POST's.
    const getUrl = `/graphql?query=${encodeURIComponent(QUERY)}&variables=${encodeURIComponent(JSON.stringify({ id }))}`;
    const graphqlGet = () => server.app.inject({ method: 'GET', url: getUrl, headers });
    // Both answer what the load scenarios check, or the figures mean nothing.
    const restBody = JSON.parse(await expectOk(rest(), 'REST get')) as { id?: string };
    for (const [what, send] of [
      ['GraphQL resource', graphql],
      ['GraphQL resource over GET', graphqlGet],
    ] as const) {
      const graphqlBody = JSON.parse(await expectOk(send(), what)) as { data?: { resource?: { id?: string } }; errors?: unknown };
      if (restBody.id !== id || graphqlBody.errors || graphqlBody.data?.resource?.id !== id) {
        throw new Error(`unexpected answers: ${JSON.stringify(restBody).slice(0, 200)} / ${JSON.stringify(graphqlBody).slice(0, 200)}`);
      }
    }
    // Warm-up: the JIT, the document cache, the resource cache.
    for (let i = 0; i < 500; i++) {
      await rest();
      await graphql();
      await graphqlGet();
    }
    const restRounds: number[] = [];
    const graphqlRounds: number[] = [];
    const graphqlGetRounds: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      if (ONLY !== 'graphql') restRounds.push(await cpuPerRequest(rest, REQUESTS));
      if (ONLY !== 'rest' && ONLY !== 'graphql-get') graphqlRounds.push(await cpuPerRequest(graphql, REQUESTS));
      if (ONLY === undefined || ONLY === 'graphql-get') graphqlGetRounds.push(await cpuPerRequest(graphqlGet, REQUESTS));
    }
    const row = (name: string, rounds: number[]) =>
      `${name.padEnd(36)} ${median(rounds).toFixed(0).padStart(6)} µs   (${Math.min(...rounds).toFixed(0)}–${Math.max(...rounds).toFixed(0)})`;
    console.log(
      [
        `CPU µs per request: median of ${ROUNDS} rounds of ${REQUESTS} (min–max), in-process via app.inject, PGlite, rate limiter on`,
        ...(restRounds.length ? [row('REST GET /api/v1/resources/{id}', restRounds)] : []),
        ...(graphqlRounds.length ? [row('GraphQL resource(id)', graphqlRounds)] : []),
        ...(graphqlGetRounds.length ? [row('GraphQL resource(id) over GET', graphqlGetRounds)] : []),
        ...(ONLY
          ? []
          : [
              `GraphQL overhead: ${(median(graphqlRounds) - median(restRounds)).toFixed(0)} µs; ratio ${(median(graphqlRounds) / median(restRounds)).toFixed(2)}×`,
            ]),
      ].join('\n'),
    );
    return 0;
  } finally {
    await server.stop();
  }
}
