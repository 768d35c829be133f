// `npm run build` (and so `npm install`) ends here: it makes the migrated PGlite data
// directory that a server's first start copies instead of running initdb and every migration
// (see src/infra/database/pglite-template.ts). It skips the work when the template is current.
import { performance } from 'node:perf_hooks';
import { stdout } from 'node:process';
import { buildPgliteTemplate, defaultTemplateDir } from '../dist/src/infra/database/index.js';
import { createLogger } from '../dist/src/infra/telemetry/logger.js';

const started = performance.now();
const built = await buildPgliteTemplate(createLogger({ level: 'warn' }));
const where = defaultTemplateDir();
stdout.write(built ? `PGlite template built in ${where} (${Math.round(performance.now() - started)} ms)\n` : `PGlite template in ${where} is current\n`);
