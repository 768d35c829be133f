import type { ShareAction } from '../access/index.js';
import type { ResourceEventPayload } from '../events/catalog.js';
import type { PageRequest } from '../shared/pagination.js';

export interface ResourceSummary {
  id: string;
  ownerId: string;
  name: string;
  type: string;
  metadata: Record<string, unknown>;
  /** The current version of the data: new data appends version n+1. */
  version: number;
  /**
   * Bumped by every change of the record (name, metadata, data, owner): the ETag, and what
   * If-Match and expectedRevision are compared with.
   */
  revision: number;
  createdAt: string;
  updatedAt: string;
}

export interface ResourceView extends ResourceSummary {
  /** The current version's data. */
  data: unknown;
}

export interface VersionSummary {
  version: number;
  createdBy: string | null;
  createdAt: string;
}

export interface VersionView extends VersionSummary {
  data: unknown;
}

export interface Share {
  userId: string;
  /**
   * The grantee's name as it is now, so a UI can show who it is. Not the email: a member who
   * knows only a user's id (a resource's owner) must not learn their address by sharing with them.
   */
  name: string;
  actions: ShareAction[];
}

export interface ListFilters extends PageRequest {
  type?: string | undefined;
  ownerId?: string | undefined;
  q?: string | undefined;
}

/**
 * What a write expects the resource to be at; an absent field accepts any. `revisions`
 * (If-Match's tags, GraphQL's expectedRevision) is compared with the revision, which every
 * change bumps; `version` (GraphQL's deprecated expectedVersion) with the data's version
 * alone, so it does not protect name or metadata.
 */
export interface Precondition {
  revisions?: readonly number[] | undefined;
  version?: number | undefined;
}

export interface WriteOptions {
  /** `Idempotency-Key`: a retry with the same key and request gets the first answer. */
  idempotencyKey?: string | undefined;
}

/** What permission conditions see of a resource (DESIGN §5 "Permissions"). */
export function resourceRecord(r: ResourceSummary) {
  return { id: r.id, ownerId: r.ownerId, name: r.name, type: r.type, createdAt: r.createdAt, metadata: r.metadata };
}

/** The payload of a resource's events: the record as the change left it, and who made it. */
export function eventPayload(resource: ResourceSummary, actorId: string): ResourceEventPayload {
  return { ...resourceRecord(resource), version: resource.version, actorId };
}
