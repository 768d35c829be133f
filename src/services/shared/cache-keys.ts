/** Cache keys shared by more than one service. */

/** A resource read by id (ResourcesService); other services that change a resource invalidate it. */
export const resourceCacheKey = (id: string): string => `res:${id}`;
