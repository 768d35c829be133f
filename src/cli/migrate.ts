import type { Config } from '../core/config/index.js';
import { createDatabase, databaseOptionsFrom, isDataDirInUse, migrateDown, migrateUp, migrationStatus } from '../infra/database/index.js';
import { createLogger } from '../infra/telemetry/logger.js';
import { EXIT_DATA_DIR_IN_USE } from './options.js';
import { err, out } from './output.js';

export type MigrateAction = 'up' | 'down' | 'status';

/** `pcf migrate up|down|status` against the configured database. */
export async function migrate(config: Config, action: MigrateAction, options: { yes?: boolean } = {}): Promise<void> {
  // Reverting drops tables and their data; in production it takes an explicit yes.
  if (action === 'down' && config.profile === 'production' && !options.yes) {
    err('Refusing to revert a migration in the production profile without --yes: it drops tables and their data.');
    process.exitCode = 1;
    return;
  }
  const database = createDatabase(databaseOptionsFrom(config), createLogger({ level: 'warn' }));
  try {
    if (action === 'status') {
      for (const m of await migrationStatus(database.db)) {
        out(`${m.executedAt ? 'applied' : 'pending'}  ${m.name}${m.executedAt ? `  ${m.executedAt.toISOString()}` : ''}`);
      }
      return;
    }
    const names = action === 'up' ? await migrateUp(database.db) : await migrateDown(database.db);
    if (names.length === 0) out(action === 'up' ? 'Nothing to apply: the database is up to date.' : 'Nothing to revert.');
    for (const name of names) out(`${action === 'up' ? 'applied' : 'reverted'}  ${name}`);
  } catch (e) {
    // Even `status` is refused: opening the files of a running server's database is unsafe.
    if (!isDataDirInUse(e)) throw e;
    err(`cannot ${action === 'status' ? 'read' : 'change'} the migrations: ${e.message}`);
    process.exitCode = EXIT_DATA_DIR_IN_USE;
  } finally {
    await database.close();
  }
}
