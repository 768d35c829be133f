/**
 * The baselines: the least a Fastify route can do. Runs in its own child process
 * (started by run.ts) so that it never shares a core's event loop with autocannon.
 *
 *   GET /bare            a small JSON object, no I/O
 *   GET /bare/pg/:id     one `SELECT … WHERE id = $1` by primary key through pg (Pool, max 10)
 *
 * Add a route here for each new baseline (e.g. a `SELECT … LIMIT 20` or a single-row
 * INSERT) and register it as a `target: 'bare'` scenario in scenarios.ts.
 *
 * Environment: BENCH_DATABASE_URL (required), BENCH_PORT (default 0 = any free port).
 * Reports `{ type: 'listening', port }` to the parent over IPC once it listens.
 */
import Fastify from 'fastify';
import pg from 'pg';

const databaseUrl = process.env.BENCH_DATABASE_URL;
if (!databaseUrl) {
  console.error('bare-server: BENCH_DATABASE_URL is not set');
  process.exit(2);
}

const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
const app = Fastify({ logger: false });

app.get('/bare', async () => ({ hello: 'world', ok: true }));

app.get<{ Params: { id: string } }>('/bare/pg/:id', async (request, reply) => {
  const { rows } = await pool.query('SELECT id, name, created_at FROM bench_items WHERE id = $1', [request.params.id]);
  const row = rows[0];
  if (!row) return reply.code(404).send({ error: 'not found' });
  return row;
});

let closing = false;
async function shutdown(code: number): Promise<void> {
  if (closing) return;
  closing = true;
  await app.close().catch(() => undefined);
  await pool.end().catch(() => undefined);
  process.exit(code);
}

process.on('SIGTERM', () => void shutdown(0));
process.on('SIGINT', () => void shutdown(0));
// If the parent dies without killing us, the IPC channel closes: don't linger as an orphan.
process.on('disconnect', () => void shutdown(0));

try {
  // Open the pool's connections up front so the first measured requests don't pay for them.
  await Promise.all(Array.from({ length: 10 }, () => pool.query('SELECT 1')));
  const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.BENCH_PORT ?? 0) });
  const port = Number(new URL(address).port);
  if (process.send) process.send({ type: 'listening', port });
  else console.log(`bare-server listening on ${address}`);
} catch (err) {
  console.error('bare-server: failed to start:', err);
  await shutdown(1);
}
