import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { TSchema } from '@sinclair/typebox';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { deepFreeze } from '../freeze.js';
import { queueUrlProblem } from '../queue-url.js';
import { CONFIG_KEYS, ConfigSchema, PROFILE_DEFAULTS, type Config, type ConfigKey, type Profile } from './schema.js';
import { formatRoles, parseRoles, roleFindings } from './instance-roles.js';

/** One thing wrong with the configuration, phrased so an operator can fix it. */
export interface ConfigProblem {
  key: string;
  source: string;
  message: string;
}

/** Thrown when the configuration is invalid; lists every problem, not just the first. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n` +
        problems.map((p) => `  - ${p.key} (${p.source}): ${p.message}`).join('\n'),
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export interface ConfigSources {
  /** Path of a JSON or YAML config file (`--config`). */
  file?: string | undefined;
  /** The process environment; only `PCF_*` variables are read. */
  env?: NodeJS.ProcessEnv;
  /** Values from the command line, keyed by config path (`graphql.maxDepth`). */
  flags?: Record<string, unknown>;
}

export interface LoadedConfig {
  config: Config;
  /** Things worth telling the operator that do not stop start-up (e.g. unknown PCF_ variables). */
  warnings: string[];
}

// Variables read by tools around the server rather than the server itself.
const FOREIGN_ENV = /^PCF_(TEST_|URL$|TOKEN$|CONFIG$)/;

const KEY_BY_PATH = new Map(CONFIG_KEYS.map((k) => [k.path, k]));

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    node = (typeof next === 'object' && next !== null ? next : (node[part] = {})) as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Merges `layer` into `target`, remembering which source (named per path) set each leaf. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function mergeLayer(
  target: Record<string, unknown>,
  layer: Record<string, unknown>,
  sourceOf: (path: string) => string,
  origins: Map<string, string>,
  problems: ConfigProblem[],
  prefix = '',
): void {
  for (const [name, value] of Object.entries(layer)) {
    const path = prefix ? `${prefix}.${name}` : name;
    // A file could carry "__proto__"; merging it would change every object in the process.
    if (FORBIDDEN_KEYS.has(name)) {
      problems.push({ key: path, source: sourceOf(path), message: 'not an allowed key.' });
      continue;
    }
    if (isPlainObject(value)) {
      // Descend even into a section no earlier layer had, so every leaf records its source.
      if (!isPlainObject(target[name])) target[name] = {};
      mergeLayer(target[name] as Record<string, unknown>, value, sourceOf, origins, problems, path);
    } else {
      target[name] = value;
      origins.set(path, sourceOf(path));
    }
  }
}

function readFileLayer(file: string, problems: ConfigProblem[]): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push({ key: '--config', source: file, message: `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
    return {};
  }
  try {
    const parsed: unknown = extname(file) === '.json' ? JSON.parse(text) : parseYaml(text);
    if (parsed === null || parsed === undefined) return {};
    if (!isPlainObject(parsed)) {
      problems.push({ key: '--config', source: file, message: 'the file must hold an object of settings' });
      return {};
    }
    return parsed;
  } catch (err) {
    problems.push({ key: '--config', source: file, message: `not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}${whereInFile(err)}.` });
    return {};
  }
}

/**
 * Where a parse error is, without the parser's message: V8's JSON errors quote the input
 * around the error, and the input may be a secret.
 */
function whereInFile(err: unknown): string {
  const linePos = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0];
  if (linePos) return ` at line ${linePos.line}, column ${linePos.col}`;
  const match = /line (\d+) column (\d+)|position (\d+)/.exec((err as Error).message);
  if (!match) return '';
  return match[1] ? ` at line ${match[1]}, column ${match[2]}` : ` at character ${match[3]}`;
}

function readEnvLayer(env: NodeJS.ProcessEnv, warnings: string[]): Record<string, unknown> {
  const layer: Record<string, unknown> = {};
  const byEnv = new Map(CONFIG_KEYS.map((k) => [k.env, k]));
  for (const [name, value] of Object.entries(env)) {
    if (!name.startsWith('PCF_') || value === undefined || FOREIGN_ENV.test(name)) continue;
    const key = byEnv.get(name);
    if (!key) {
      warnings.push(`Unknown environment variable ${name} is ignored`);
      continue;
    }
    setPath(layer, key.path, value);
  }
  return layer;
}

function describeExpected(key: ConfigKey | undefined): string {
  if (!key) return '';
  const s = key.schema;
  if (Array.isArray(s.anyOf)) return ` Allowed: ${s.anyOf.map((o: { const: unknown }) => String(o.const)).join(', ')}.`;
  if (s.type === 'integer') return ` Expected an integer from ${s.minimum} to ${s.maximum}.`;
  if (s.type === 'boolean') return ' Expected true or false.';
  return '';
}

/**
 * Fills in defaults and turns text from the environment and the command line into the
 * schema's types, by the rules of ajv's `useDefaults` and `coerceTypes` (which this module
 * used before): a default only where a section is an object and the key is missing; a number
 * only from a whole numeric string, true and false only from their names, 1 and 0. Anything
 * else stays as it was, for the check to report.
 */
function prepare(schema: TSchema, value: unknown): unknown {
  if (schema.type === 'object') {
    if (isPlainObject(value)) {
      for (const [name, property] of Object.entries(schema.properties as Record<string, TSchema>)) {
        if (value[name] === undefined && property.default !== undefined) value[name] = structuredClone(property.default);
        if (value[name] !== undefined) value[name] = prepare(property, value[name]);
      }
    }
    return value;
  }
  // A union of string literals takes text like a string.
  const type = schema.type ?? (Array.isArray(schema.anyOf) ? 'string' : undefined);
  if (type === 'integer') {
    if (typeof value === 'boolean' || value === null) return Number(value);
    if (typeof value === 'string' && value !== '' && !Number.isNaN(Number(value)) && Number(value) % 1 === 0) return Number(value);
  } else if (type === 'boolean') {
    if (value === 'true' || value === 1) return true;
    if (value === 'false' || value === 0 || value === null) return false;
  } else if (type === 'string') {
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (value === null) return '';
  }
  return value;
}

/** What is wrong with one value, phrased as JSON Schema validators do. */
function describeError(error: ValueError): string {
  const s = error.schema;
  switch (error.type) {
    case ValueErrorType.Integer:
      return 'must be integer';
    case ValueErrorType.IntegerMinimum:
      return `must be >= ${s.minimum}`;
    case ValueErrorType.IntegerMaximum:
      return `must be <= ${s.maximum}`;
    case ValueErrorType.String:
      return 'must be string';
    case ValueErrorType.StringMinLength:
      return `must NOT have fewer than ${s.minLength} characters`;
    case ValueErrorType.StringMaxLength:
      return `must NOT have more than ${s.maxLength} characters`;
    case ValueErrorType.StringPattern:
      return `must match pattern "${s.pattern}"`;
    case ValueErrorType.Boolean:
      return 'must be boolean';
    case ValueErrorType.Object:
      return 'must be object';
    default:
      return error.message;
  }
}

function toProblem(error: ValueError, origins: Map<string, string>): ConfigProblem {
  const path = error.path.slice(1).replaceAll('/', '.');
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    const base = path.slice(0, Math.max(0, path.lastIndexOf('.')));
    const siblings = CONFIG_KEYS.filter((k) => k.path.startsWith(base ? `${base}.` : ''))
      .map((k) => (base ? k.path.slice(base.length + 1) : k.path))
      .map((p) => p.split('.')[0])
      .filter((v, i, a) => a.indexOf(v) === i);
    return { key: path, source: origins.get(path) ?? 'config file', message: `unknown key. Known keys here: ${siblings.join(', ')}.` };
  }
  const key = KEY_BY_PATH.get(path);
  let message: string;
  if (error.type === ValueErrorType.StringPattern && path.endsWith('url')) {
    message = `not a valid URL for this setting (${key?.schema.description ?? ''}).`;
  } else if (error.type === ValueErrorType.Union) {
    message = 'not an allowed value.';
  } else {
    message = `${describeError(error)}.`;
  }
  return { key: path || '(root)', source: origins.get(path) ?? 'default', message: message + describeExpected(key) };
}

/**
 * Builds the effective configuration: defaults → config file → `PCF_*` environment →
 * command-line flags. Validates everything at once and returns a frozen object, or throws a
 * ConfigError listing every problem.
 */
export function loadConfig(sources: ConfigSources = {}): LoadedConfig {
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];
  const origins = new Map<string, string>();

  const fileLayer = sources.file ? readFileLayer(sources.file, problems) : {};
  const envLayer = readEnvLayer(sources.env ?? {}, warnings);
  const flagLayer: Record<string, unknown> = {};
  for (const [path, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined) setPath(flagLayer, path, value);
  }

  // The profile picks the defaults every other source overrides, so it is resolved first.
  const profileValue = (flagLayer.profile ?? envLayer.profile ?? fileLayer.profile ?? 'development') as Profile;
  const profileDefaults = PROFILE_DEFAULTS[profileValue] ?? {};

  const merged: Record<string, unknown> = {};
  mergeLayer(merged, profileDefaults as Record<string, unknown>, () => `profile ${profileValue}`, origins, problems);
  mergeLayer(merged, fileLayer, () => `file ${sources.file}`, origins, problems);
  mergeLayer(merged, envLayer, (path) => `env ${KEY_BY_PATH.get(path)?.env ?? 'PCF_*'}`, origins, problems);
  mergeLayer(merged, flagLayer, (path) => `flag ${KEY_BY_PATH.get(path)?.flag ?? path}`, origins, problems);

  // Interpreted rather than compiled: the configuration is checked once, at start-up, where
  // compiling a validator for the whole schema cost more than the check itself.
  const config = prepare(ConfigSchema, merged) as Record<string, unknown>;
  problems.push(...[...Value.Errors(ConfigSchema, config)].map((e) => toProblem(e, origins)));
  problems.push(...crossFieldProblems(config, origins));
  // One problem a key: a URL the schema already refused is not parsed as well.
  if (!problems.some((p) => p.key === 'queue.url')) problems.push(...queueUrlProblems(config, origins));
  if (!problems.some((p) => p.key === 'roles')) problems.push(...roleProblems(config, origins, warnings));
  if (problems.length > 0) throw new ConfigError(dedupe(problems));
  return { config: deepFreeze(config as Config), warnings };
}

function readPath(merged: Record<string, unknown>, path: string): unknown {
  const [section, key] = path.split('.') as [string, string];
  return (merged[section] as Record<string, unknown> | undefined)?.[key];
}

/**
 * A queue URL the schema's pattern lets through but no adapter could use (a path, credentials
 * for Kafka, an empty server) would otherwise be retried for ever as an unreachable broker.
 * The message never quotes the URL: it may hold credentials.
 */
function queueUrlProblems(merged: Record<string, unknown>, origins: Map<string, string>): ConfigProblem[] {
  const url = readPath(merged, 'queue.url');
  const problem = typeof url === 'string' ? queueUrlProblem(url) : undefined;
  return problem ? [{ key: 'queue.url', source: origins.get('queue.url') ?? 'default', message: `${problem}.` }] : [];
}

/**
 * The roles as a set (an unknown name or none at all is a problem), then the rules a split
 * deployment must follow (core/config/roles.ts). A valid set is written back in its canonical
 * form, so `pcf config` and the logs show `api,worker` however it was spelled.
 */
function roleProblems(merged: Record<string, unknown>, origins: Map<string, string>, warnings: string[]): ConfigProblem[] {
  if (typeof merged.roles !== 'string') return [];
  const source = origins.get('roles') ?? 'default';
  const { roles, problems } = parseRoles(merged.roles);
  if (problems.length > 0) return problems.map((message) => ({ key: 'roles', source, message }));
  merged.roles = formatRoles(roles);
  const text = (path: string) => (typeof readPath(merged, path) === 'string' ? (readPath(merged, path) as string) : '');
  const findings = roleFindings({ roles, databaseUrl: text('database.url'), redisUrl: text('redis.url'), queueUrl: text('queue.url') });
  warnings.push(...findings.warnings);
  return findings.refusals.map((message) => ({ key: 'roles', source, message }));
}

/** Rules that tie two settings together; checked alongside the schema, reported with it. */
function crossFieldProblems(merged: Record<string, unknown>, origins: Map<string, string>): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const read = (path: string): unknown => readPath(merged, path);
  const notBelow = (path: string, floorPath: string, why = '') => {
    const [value, floor] = [read(path), read(floorPath)];
    if (typeof value === 'number' && typeof floor === 'number' && value < floor) {
      problems.push({ key: path, source: origins.get(path) ?? 'default', message: `must not be smaller than ${floorPath}${why}.` });
    }
  };
  notBelow('database.retryMaxMs', 'database.retryInitialMs');
  // A document's data travels in GraphQL variables: smaller variables would make the largest
  // document REST accepts impossible to write over GraphQL.
  notBelow('graphql.maxVariablesBytes', 'resources.maxDataBytes', ' (resource data arrives as a variable)');
  // An operation may cost up to maxComplexity; a points budget below that would refuse such
  // operations for ever, with a Retry-After that never comes true.
  if (read('rateLimit.enabled') !== false) {
    notBelow('rateLimit.graphqlPointsPerWindow', 'graphql.maxComplexity', ' (an operation may cost that much)');
    notBelow('rateLimit.bodyBytesPerWindow', 'http.bodyLimitBytes', ' (a body may be that large)');
  }
  return problems;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const id = `${p.key}\u0000${p.message}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
