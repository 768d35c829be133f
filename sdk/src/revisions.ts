/**
 * The revision this client last saw of each resource (from reads and writes), so
 * `update(id, …)` can send If-Match without the caller carrying it around. Bounded: the
 * oldest entries go first, and an update whose entry is gone asks for the revision.
 */
export class SeenRevisions {
  readonly #seen = new Map<string, number>();

  constructor(readonly limit = 1000) {}

  note(resource: { id: string; revision: number }): void {
    this.#seen.delete(resource.id);
    this.#seen.set(resource.id, resource.revision);
    if (this.#seen.size > this.limit) this.#seen.delete(this.#seen.keys().next().value!);
  }

  get(id: string): number | undefined {
    return this.#seen.get(id);
  }

  forget(id: string): void {
    this.#seen.delete(id);
  }
}
