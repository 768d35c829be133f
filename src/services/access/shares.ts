/**
 * Shares as the access layer sees them (DESIGN §5 "Permissions"). A share is a row of
 * `resource_shares`, not a permission: a user's shares become ONE rule per action in its
 * ability, whatever their number, and ONE SQL predicate (a semi-join on `resource_shares`)
 * in list filters, instead of one rule and one OR-ed predicate per share (issue 12 point 4).
 */

export const SHARE_ACTIONS = ['read', 'update', 'delete'] as const;
export type ShareAction = (typeof SHARE_ACTIONS)[number];

/** The ids of the resources shared with a user, by action (sorted, each once). */
export type SharedResources = Readonly<Record<ShareAction, readonly string[]>>;

export const NO_SHARES: SharedResources = Object.freeze({ read: [], update: [], delete: [] });

/** The internal condition operator of a share rule: `{ id: { $shared: SharedCondition } }`. */
export const SHARED_OPERATOR = '$shared';

/**
 * The value of a share rule's condition. In memory the resource id is looked up in `ids`
 * (the shares the user's grants were loaded with); in SQL the same rule reads the
 * `resource_shares` rows of `userId` for `action`, so a list never carries the ids.
 */
export interface SharedCondition {
  userId: string;
  action: ShareAction;
  ids: ReadonlySet<string>;
}

/** Groups `(resource id, actions)` rows into the ids shared per action. */
export function sharedResources(rows: readonly { resource_id: string; actions: readonly string[] }[]): SharedResources {
  const out: Record<ShareAction, string[]> = { read: [], update: [], delete: [] };
  for (const row of rows) {
    for (const action of SHARE_ACTIONS) if (row.actions.includes(action)) out[action].push(row.resource_id);
  }
  for (const action of SHARE_ACTIONS) out[action].sort();
  return out;
}
