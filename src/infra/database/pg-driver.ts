import { createRequire } from 'node:module';
import type PgModule from 'pg';

/** The PostgreSQL driver, loaded only when PostgreSQL is configured: the embedded start skips it. */
export const loadPg = (): typeof PgModule => createRequire(import.meta.url)('pg') as typeof PgModule;
