import { appError } from '../../core/errors.js';
import { canonicalId } from '../../core/ids.js';
import type { Database } from '../../infra/database/index.js';
import { accessFilter, buildAbility, subjectTypeOf, validatePermissionInput, type Conditions } from '../access/index.js';
import type { ResourceSummary } from '../resources/model.js';
import { summariesMatching, userById } from '../resources/repository.js';
import { FieldProblems, onlyFields } from '../shared/input.js';
import { pageBounds } from '../shared/pagination.js';

/** What a permission would match, before it is granted (the console's condition editor). */
export interface PermissionPreview {
  /** The conditions as they would be stored (normalised; null when unconditional). */
  conditions: Conditions | null;
  /** The first resources it matches, in id order. */
  matches: ResourceSummary[];
  /** True when it matches more than `matches` holds. */
  more: boolean;
}

/**
 * The resources a permission would match: validated exactly as it would be when granted,
 * then turned into an ability and its SQL filter exactly as a holder's grants are (ability.ts,
 * sql.ts), with `${user.id}` standing for `userId`. One statement walking the primary key to
 * `limit + 1` rows, so a preview costs a page of a list whatever the table holds. Permissions
 * on users and roles match no resources: their `matches` is empty.
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
  if (subjectTypeOf(permission.resourceType) !== 'resource') return { conditions: permission.conditions, matches: [], more: false };
  const ability = buildAbility([{ id: 'preview', ...permission }], holder);
  const filter = accessFilter(ability, permission.action, 'resource');
  const rows = filter.kind === 'none' ? [] : await summariesMatching(db, filter.kind === 'where' ? filter.expression : undefined, limit + 1);
  return { conditions: permission.conditions, matches: rows.slice(0, limit), more: rows.length > limit };
}
