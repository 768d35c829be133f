export { ConfigSchema, CONFIG_KEYS, PROFILE_DEFAULTS, type Config, type ConfigKey, type Profile, type PartialConfig } from './schema.js';
export { loadConfig, ConfigError, type ConfigProblem, type ConfigSources, type LoadedConfig } from './load.js';
export { redactConfig } from './redact.js';
export {
  INSTANCE_ROLES,
  ALL_ROLES,
  parseRoles,
  formatRoles,
  instanceRolesOf,
  runsAllRoles,
  roleFindings,
  type InstanceRole,
  type RoleFindings,
} from './instance-roles.js';
