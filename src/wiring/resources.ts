import type { Config } from '../core/config/index.js';
import type { Cache } from '../infra/cache/index.js';
import type { Database } from '../infra/database/index.js';
import { moduleLogger, type Logger } from '../infra/telemetry/logger.js';
import type { Identity } from '../services/identity.js';
import { VersionDiffs } from '../services/resources/diffs.js';
import { ResourceReads } from '../services/resources/reads.js';
import { ResourcesService } from '../services/resources/resources.service.js';
import { TolerantCache } from '../services/shared/tolerant-cache.js';
import { UnitOfWork } from '../services/shared/unit-of-work.js';
import { SharesService } from '../services/shares/shares.service.js';

/**
 * The resources service, with the shares service it hands the transports. Their cache has
 * no in-process layer: a resource changed on one instance must read as changed on every
 * other at once (the shared cache is invalidated before the change commits).
 */
export function createResources(deps: { database: Database; cache: Cache; identity: Identity; config: Config; logger: Logger }): ResourcesService {
  const { database, identity, config } = deps;
  const cache = new TolerantCache(deps.cache, moduleLogger(deps.logger, 'resources'));
  // Instances sharing PostgreSQL without Redis each cache on their own: briefly (see identity.ts).
  const cacheTtlMs = deps.cache.kind === 'redis' || database.kind === 'pglite' ? config.resources.cacheTtlMs : Math.min(config.resources.cacheTtlMs, 1000);
  const unitOfWork = new UnitOfWork({ database, outbox: identity.outbox, cache, grants: identity.grants });
  const reads = new ResourceReads({ database, cache, cacheTtlMs });
  const shares = new SharesService({
    database,
    unitOfWork,
    reads,
    audit: identity.audit,
    maxSharesPerResource: config.resources.maxSharesPerResource,
    maxSharesPerUser: config.resources.maxSharesPerUser,
  });
  return new ResourcesService({
    database,
    unitOfWork,
    reads,
    shares,
    diffs: new VersionDiffs({ database, cache, cacheTtlMs }),
    cache,
    audit: identity.audit,
    maxDataBytes: config.resources.maxDataBytes,
    maxVersions: config.resources.maxVersions,
    storageQuotaBytes: config.quotas.storageBytesPerUser,
  });
}
