import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../../core/package.js';

/**
 * GraphiQL at /graphiql (development profile, `graphql.graphiql`): a page that loads React
 * and GraphiQL from this server (the build copies their browser files into web/dist/graphiql/,
 * web/scripts/build.mjs), so it works offline and under a policy that allows our own scripts
 * only, and starts it from a script of ours, as the policy allows no inline script. Every URL
 * is relative, so the page works behind a path prefix. Queries and mutations go to the
 * /graphql beside it over HTTP.
 */
const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="robots" content="noindex">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>PCF API – GraphiQL</title>
  <link rel="stylesheet" href="graphiql/assets/graphiql.min.css">
  <link rel="stylesheet" href="graphiql/assets/page.css">
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="graphiql/assets/react.production.min.js"></script>
  <script src="graphiql/assets/react-dom.production.min.js"></script>
  <script src="graphiql/assets/graphiql.min.js"></script>
  <script src="graphiql/assets/start.js"></script>
</body>
</html>
`;

export async function registerGraphiql(app: FastifyInstance): Promise<void> {
  const root = join(packageRoot(), 'web', 'dist', 'graphiql');
  app.get('/graphiql', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
  // Without a build (`tsx src/main.ts` on a fresh checkout) the page says it is loading and
  // its asset requests get the router's 404; `npm run build` fills the folder.
  if (!existsSync(root)) return;
  await app.register(fastifyStatic, {
    root,
    prefix: '/graphiql/assets/',
    decorateReply: false,
    preCompressed: true,
    cacheControl: true,
    maxAge: '1h',
    index: false,
  });
}
