/**
 * The baselines: the least a Fastify route can do. Runs in its own child process
 * (started by run.ts) so that it never shares a core's event loop with autocannon.
 *
 *   GET  /bare                        a small JSON object, no I/O
 *   GET  /bare/pg/:id                 one `SELECT … WHERE id = $1` by primary key
 *   GET  /bare/list?type=&ownerId=    one `SELECT … WHERE type = $1 AND owner_id = $2
 *                                     ORDER BY id LIMIT 20` on bench_resources
 *   GET  /bare/list-type?type=        the same page filtered by type alone (no owner)
 *   POST /bare/insert {name,type,metadata?,data}   one single-row `INSERT … RETURNING` into
 *                                     bench_writes (autocommit), answered 201
 *
 * Every database route makes exactly one round trip through pg (Pool, max 10, as PCF's).
 * Add a route here for each new baseline and register it as a `target: 'bare'` scenario
 * in scenarios.ts.
 *
 * Environment: BENCH_DATABASE_URL (required), BENCH_PORT (default 0 = any free port).
 * Reports `{ type: 'listening', port }` to the parent over IPC once it listens.
 */
import Fastify from 'fastify';
import pg from 'pg';
import { v7 as uuidv7 } from 'uuid';

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

const RESOURCE_COLUMNS = 'id, owner_id, name, type, metadata, version, created_at, updated_at';

app.get<{ Querystring: { type?: string; ownerId?: string } }>('/bare/list', async (request, reply) => {
  const { type, ownerId } = request.query;
  if (!type || !ownerId) return reply.code(400).send({ error: 'type and ownerId are required' });
  const { rows } = await pool.query(`SELECT ${RESOURCE_COLUMNS} FROM bench_resources WHERE type = $1 AND owner_id = $2 ORDER BY id LIMIT 20`, [type, ownerId]);
  return { items: rows };
});

app.get<{ Querystring: { type?: string } }>('/bare/list-type', async (request, reply) => {
  const { type } = request.query;
  if (!type) return reply.code(400).send({ error: 'type is required' });
  const { rows } = await pool.query(`SELECT ${RESOURCE_COLUMNS} FROM bench_resources WHERE type = $1 ORDER BY id LIMIT 20`, [type]);
  return { items: rows };
});

/** The owner of every bare write: bench_writes has no users table to refer to. */
const WRITER = '00000000-0000-4000-8000-0000000000ff';

app.post<{ Body: { name?: unknown; type?: unknown; metadata?: unknown; data?: unknown } }>('/bare/insert', async (request, reply) => {
  const { name, type, metadata, data } = request.body ?? {};
  if (typeof name !== 'string' || typeof type !== 'string' || data === undefined) {
    return reply.code(400).send({ error: 'name, type and data are required' });
  }
  const { rows } = await pool.query(
    `INSERT INTO bench_writes (id, owner_id, name, type, metadata, data) VALUES ($1, $2, $3, $4, $5, $6)
     RETURNING id, owner_id, name, type, metadata, data, created_at`,
    [uuidv7(), WRITER, name, type, JSON.stringify(metadata ?? {}), JSON.stringify(data)],
  );
  return reply.code(201).send(rows[0]);
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
