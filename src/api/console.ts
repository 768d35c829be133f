import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import { appError } from '../core/errors.js';
import { packageRoot } from '../core/package.js';
import type { App } from './app.js';
import { sendProblem } from './problem.js';

/** Where `npm run build` puts the console (web/scripts/build.mjs). */
export function consoleDirectory(): string {
  return join(packageRoot(), 'web', 'dist');
}

/** The build's file names carry a content hash: a browser may keep them for good. */
const HASHED_ASSET = /\/assets\/[^/]+-[A-Z0-9]{8}\.(js|css)(\.map)?(\.br|\.gz)?$/i;

/**
 * The web console (web/), served at /console/ by instances with the api role, and / sent to
 * it. Every URL the console uses is relative (hash routes, `./assets/…`, the API one folder
 * up), so it works unchanged behind a proxy that mounts the server under a path prefix: the
 * redirect's Location is relative for the same reason. index.html is revalidated on every
 * load, so a new build is picked up at once; the hashed assets are immutable.
 */
export async function registerConsole(app: App): Promise<void> {
  const root = consoleDirectory();
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.redirect('console/', 302));
  // /console → /console/, so the page's relative URLs resolve inside the folder. The plugin's
  // own redirect would not fire for a prefix with a trailing slash, and its Location would be
  // absolute (lost behind a prefix).
  app.get('/console', { schema: { hide: true } }, async (_request, reply) => reply.redirect('console/', 301));
  if (!existsSync(join(root, 'index.html'))) {
    // A checkout that was never built (`tsx src/main.ts`): say what to do instead of a bare 404.
    app.get('/console/*', { schema: { hide: true } }, async (_request, reply) =>
      sendProblem(reply, appError('NOT_FOUND', 'The console is not built: run `npm run build` (it writes web/dist/).')),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/console/',
    wildcard: true,
    index: ['index.html'],
    // The build writes .br and .gz beside each file (web/scripts/build.mjs).
    preCompressed: true,
    cacheControl: false,
    etag: true,
    lastModified: true,
    // Nothing that starts with a dot, at any depth, is a file the console serves (send's
    // default would serve them under the wildcard route).
    dotfiles: 'ignore',
    setHeaders: (response, path) => {
      response.setHeader('cache-control', HASHED_ASSET.test(path) ? 'public, max-age=31536000, immutable' : 'no-cache');
      // The answer depends on Accept-Encoding (preCompressed): a shared cache must key on it.
      response.setHeader('vary', 'accept-encoding');
    },
  });
}
