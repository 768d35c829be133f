/** Access control (DESIGN §5 "Permissions"): validation, in-memory checks and SQL filters. */
export {
  ACTIONS,
  ANY_RESOURCE_TYPE,
  SYSTEM_TYPES,
  USER_ID_PLACEHOLDER,
  isValidResourceType,
  subjectTypeOf,
  type Action,
  type Conditions,
  type PermissionRule,
  type SubjectType,
  type SystemType,
} from './subjects.js';
export { validatePermissionInput, type PermissionInput, type ValidPermission } from './conditions.js';
export { buildAbility, can, canUnconditionally, type AppAbility, type SubjectRecord } from './ability.js';
export { accessFilter, type AccessFilter } from './sql.js';
export { NO_SHARES, SHARE_ACTIONS, sharedResources, type ShareAction, type SharedResources } from './shares.js';
