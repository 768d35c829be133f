import { join } from 'node:path';
import { packageRoot } from '../../core/package.js';

/** The folder of SQL migrations: `migrations/` at the package root. */
export function defaultMigrationsDir(): string {
  return join(packageRoot(), 'migrations');
}
