import type { CallOptions, KeyedCallOptions } from './call-options.js';
import { PcfConflictError, PcfError } from './errors.js';
import { paginated, type Paginated } from './pagination.js';
import { SeenRevisions } from './revisions.js';
import { path, type Transport } from './transport.js';
import type {
  JsonPatch,
  Page,
  Resource,
  ResourceChanges,
  ResourceFilters,
  ResourceInput,
  ResourceSummary,
  Share,
  ShareInput,
  Version,
  VersionSummary,
} from './types.js';

export interface UpdateOptions extends CallOptions {
  /**
   * The revision the change is based on (the ETag). Defaults to the revision of the resource
   * passed, else the last one this client saw; `'*'` writes whatever the resource holds now.
   */
  revision?: number | '*';
}

/** A resource, one it listed, or its id. */
export type ResourceTarget = string | Pick<ResourceSummary, 'id' | 'revision'>;

/** Versioned JSON resources: /api/v1/resources. */
export class Resources {
  readonly #seen = new SeenRevisions();

  constructor(
    private readonly transport: Transport,
    private readonly newKey: () => string,
  ) {}

  async get(id: string, options: CallOptions = {}): Promise<Resource> {
    const { body } = await this.transport.request<Resource>({ method: 'GET', path: path`/api/v1/resources/${id}`, signal: options.signal, retry: 'read' });
    this.#seen.note(body);
    return body;
  }

  /** Every resource you may read, filtered; iterate for all, or `.page()` for one page. */
  list(filters: ResourceFilters = {}, options: CallOptions = {}): Paginated<ResourceSummary> {
    return paginated(async (cursor) => {
      const { body } = await this.transport.request<Page<ResourceSummary>>({
        method: 'GET',
        path: '/api/v1/resources',
        query: { limit: 100, ...filters, cursor },
        signal: options.signal,
        retry: 'read',
      });
      for (const item of body.items) this.#seen.note(item);
      return body;
    });
  }

  /** Creates a resource (version 1). Keyed: a retry after a lost answer gives the same resource, never a second. */
  async create(input: ResourceInput, options: KeyedCallOptions = {}): Promise<Resource> {
    const { body } = await this.transport.request<Resource>({
      method: 'POST',
      path: '/api/v1/resources',
      body: input,
      headers: { 'idempotency-key': options.idempotencyKey ?? this.newKey() },
      signal: options.signal,
      retry: 'keyed',
    });
    this.#seen.note(body);
    return body;
  }

  /**
   * Changes name, metadata or data, if nobody changed the resource since the revision you read
   * (If-Match). Otherwise throws PcfConflictError with the resource as it is now.
   */
  async update(target: ResourceTarget, changes: ResourceChanges, options: UpdateOptions = {}): Promise<Resource> {
    const id = typeof target === 'string' ? target : target.id;
    const revision = options.revision ?? (typeof target === 'string' ? this.#seen.get(id) : target.revision);
    if (revision === undefined) {
      throw new PcfError({
        code: 'INVALID_INPUT',
        status: 0,
        message: `update(${JSON.stringify(id)}) needs the revision your change is based on: pass the resource you read, { revision }, or { revision: '*' } to overwrite.`,
      });
    }
    try {
      const { body } = await this.transport.request<Resource>({
        method: 'PATCH',
        path: path`/api/v1/resources/${id}`,
        body: changes,
        headers: revision === '*' ? {} : { 'if-match': `"${revision}"` },
        signal: options.signal,
        retry: 'once',
      });
      this.#seen.note(body);
      return body;
    } catch (err) {
      if (!(err instanceof PcfError) || err.status !== 412) throw err;
      // The problem names no resource state: read it, so the caller can merge and retry.
      const current = await this.get(id, { ...(options.signal ? { signal: options.signal } : {}) }).catch(() => undefined);
      throw new PcfConflictError(
        { code: err.code, status: err.status, message: err.message, errors: err.errors, ...(err.traceId ? { traceId: err.traceId } : {}) },
        current,
      );
    }
  }

  async delete(id: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/api/v1/resources/${id}`, signal: options.signal, retry: 'once' });
    this.#seen.forget(id);
  }

  /** The version history, newest first. */
  versions(id: string, options: CallOptions = {}): Paginated<VersionSummary> {
    return paginated(async (cursor) => {
      const { body } = await this.transport.request<Page<VersionSummary>>({
        method: 'GET',
        path: path`/api/v1/resources/${id}/versions`,
        query: { limit: 100, cursor },
        signal: options.signal,
        retry: 'read',
      });
      return body;
    });
  }

  /** One version with its data. */
  async version(id: string, n: number, options: CallOptions = {}): Promise<Version> {
    return (await this.transport.request<Version>({ method: 'GET', path: path`/api/v1/resources/${id}/versions/${n}`, signal: options.signal, retry: 'read' }))
      .body;
  }

  /** An RFC 6902 JSON Patch from version `from`'s data to version `to`'s. */
  async diff(id: string, from: number, to: number, options: CallOptions = {}): Promise<JsonPatch> {
    return (
      await this.transport.request<JsonPatch>({
        method: 'GET',
        path: path`/api/v1/resources/${id}/diff`,
        query: { from, to },
        signal: options.signal,
        retry: 'read',
      })
    ).body;
  }

  /** Appends a version whose data equals version n's. Keyed like create. */
  async restore(id: string, n: number, options: KeyedCallOptions = {}): Promise<Resource> {
    const { body } = await this.transport.request<Resource>({
      method: 'POST',
      path: path`/api/v1/resources/${id}/versions/${n}/restore`,
      headers: { 'idempotency-key': options.idempotencyKey ?? this.newKey() },
      signal: options.signal,
      retry: 'keyed',
    });
    this.#seen.note(body);
    return body;
  }

  /**
   * Shares with a user named by `userId` or by `email` (owner or admin); sharing again adds
   * actions. An unknown email throws PcfError NOT_FOUND.
   */
  async share(id: string, input: ShareInput, options: CallOptions = {}): Promise<Share> {
    return (
      await this.transport.request<Share>({ method: 'POST', path: path`/api/v1/resources/${id}/shares`, body: input, signal: options.signal, retry: 'once' })
    ).body;
  }

  /** Who the resource is shared with: each user's id, email and name, and the actions. */
  async shares(id: string, options: CallOptions = {}): Promise<Share[]> {
    return (
      await this.transport.request<{ items: Share[] }>({ method: 'GET', path: path`/api/v1/resources/${id}/shares`, signal: options.signal, retry: 'read' })
    ).body.items;
  }

  /** Stops sharing with a user, or gives back a share made to you (userId = your id). */
  async unshare(id: string, userId: string, options: CallOptions = {}): Promise<void> {
    await this.transport.request({ method: 'DELETE', path: path`/api/v1/resources/${id}/shares/${userId}`, signal: options.signal, retry: 'once' });
  }
}
