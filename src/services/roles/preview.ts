import { appError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { accessFilter, buildAbility, subjectTypeOf, validatePermissionInput, type Conditions } from '../access/index.js';
import type { ResourceSummary } from '../resources/model.js';
import { moreResourcesThan, summariesMatching, userById } from '../resources/repository.js';
import { FieldProblems, onlyFields } from '../shared/input.js';
import { pageBounds } from '../shared/pagination.js';

/** What a permission would match, before it is granted (the console's condition editor). */
export interface PermissionPreview {
  /** The conditions as they would be stored (normalised; null when unconditional). */
  conditions: Conditions | null;
  /** The first resources it matches, newest first. */
  matches: ResourceSummary[];
  /** True when it matches more than `matches` holds. */
  more: boolean;
  /** False when there are more resources than the newest PREVIEW_WINDOW, which alone were looked at. */
  complete: boolean;
}

/** How many of the newest resources a preview looks at: what bounds its cost. */
export const PREVIEW_WINDOW = 10_000;

/**
 * The resources a permission would match: validated exactly as it would be when granted,
 * then turned into an ability and its SQL filter exactly as a holder's grants are (ability.ts,
 * sql.ts), with `${user.id}` standing for `userId`. The filter is applied to the newest
 * PREVIEW_WINDOW resources only (and `complete` says whether that was all of them): a condition
 * that matches little or nothing would otherwise walk the whole table, holding PGlite's one
 * thread the while. Permissions on users and roles match no resources: their `matches` is empty.
 */
export async function previewPermission(db: Database['db'], input: Record<string, unknown>, callerId: string): Promise<PermissionPreview> {
  const problems = new FieldProblems();
  onlyFields(input, ['resourceType', 'action', 'conditions', 'userId', 'limit'], problems);
  const userId = input.userId === undefined ? callerId : typeof input.userId === 'string' ? canonicalId(input.userId) : undefined;
  if (!userId) problems.add('userId', 'must be a user id');
  problems.throwIfAny();
  const holder = userId!;
  const { limit } = pageBounds({ limit: input.limit as number | undefined });
  const permission = validatePermissionInput({ resourceType: input.resourceType, action: input.action, conditions: input.conditions });
  if (holder !== callerId && !(await userById(db, holder))) {
    throw appError('INVALID_INPUT', 'userId must be an existing user.', { errors: [{ field: 'userId', message: 'is not a user' }] });
  }
  if (subjectTypeOf(permission.resourceType) !== 'resource') return { conditions: permission.conditions, matches: [], more: false, complete: true };
  const ability = buildAbility([{ id: 'preview', ...permission }], holder);
  const filter = accessFilter(ability, permission.action, 'resource');
  const rows = filter.kind === 'none' ? [] : await summariesMatching(db, filter.kind === 'where' ? filter.expression : undefined, limit + 1, PREVIEW_WINDOW);
  const complete = !(await moreResourcesThan(db, PREVIEW_WINDOW));
  return { conditions: permission.conditions, matches: rows.slice(0, limit), more: rows.length > limit, complete };
}
