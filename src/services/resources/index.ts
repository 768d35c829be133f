import type { Config } from '../../core/config/index.js';
import type { Cache } from '../../infra/cache/index.js';
import type { Database } from '../../infra/database/index.js';
import { moduleLogger, type Logger } from '../../infra/telemetry/logger.js';
import type { Identity } from '../identity.js';
import { TolerantCache } from '../shared/tolerant-cache.js';
import { ResourcesService } from './resources.service.js';

export * from './resources.service.js';
export type { StorageUsage } from './quota.js';

/**
 * The resources service. Its cache has no in-process layer: a resource changed on one
 * instance must read as changed on every other at once (the shared cache is invalidated
 * before the change commits).
 */
export function createResources(deps: { database: Database; cache: Cache; identity: Identity; config: Config; logger: Logger }): ResourcesService {
  return new ResourcesService({
    database: deps.database,
    cache: new TolerantCache(deps.cache, moduleLogger(deps.logger, 'resources')),
    grants: deps.identity.grants,
    audit: deps.identity.audit,
    outbox: deps.identity.outbox,
    maxDataBytes: deps.config.resources.maxDataBytes,
    maxVersions: deps.config.resources.maxVersions,
    storageQuotaBytes: deps.config.quotas.storageBytesPerUser,
    maxSharesPerResource: deps.config.resources.maxSharesPerResource,
    maxSharesPerUser: deps.config.resources.maxSharesPerUser,
    // Instances sharing PostgreSQL without Redis each cache on their own: briefly (see identity.ts).
    cacheTtlMs:
      deps.cache.kind === 'redis' || deps.database.kind === 'pglite' ? deps.config.resources.cacheTtlMs : Math.min(deps.config.resources.cacheTtlMs, 1000),
  });
}
