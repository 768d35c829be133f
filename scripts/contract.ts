/**
 * `npm run contract`: writes the published contract (contract/openapi.json, the document
 * /openapi.json serves; contract/schema.graphql, the SDL /graphql/schema.graphql serves) from
 * an in-process server on an in-memory PGlite with the default (development) configuration.
 * `npm run contract -- --check` writes nothing and exits 1 naming each stale file.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadConfig } from '../src/core/config/index.js';
import { packageRoot } from '../src/core/package.js';
import { createLogger } from '../src/infra/telemetry/logger.js';
import { createServer } from '../src/server.js';
import { pgliteTemplate } from '../test/support/template.js';
import { servedContract } from './contract-files.js';

const check = process.argv.includes('--check');
const root = packageRoot();

// No environment, no file: the contract is the default configuration's, wherever it is built.
const { config } = loadConfig({ flags: { host: '127.0.0.1', port: 0 } });
const server = await createServer(config, createLogger({ level: 'silent' }), {
  // The migrated template: opening it takes under a second, a fresh PGlite several.
  database: { kind: 'pglite', dataDir: undefined, loadDataDir: await pgliteTemplate() },
});
let served: Map<string, string>;
try {
  await server.start();
  await server.ready;
  served = await servedContract(async (url) => {
    const response = await server.app.inject({ method: 'GET', url });
    return { status: response.statusCode, body: response.body };
  });
} finally {
  await server.stop();
}

const stale: string[] = [];
for (const [file, content] of served) {
  const path = join(root, file);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (current === content) continue;
  if (check) {
    stale.push(file);
  } else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    console.log(`wrote ${file}`);
  }
}
if (stale.length > 0) {
  console.error(`stale: ${stale.join(', ')} (the server serves something else); run npm run contract`);
  process.exit(1);
}
if (check) console.log('contract/ is up to date');
