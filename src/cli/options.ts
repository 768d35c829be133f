import type { Command } from 'commander';
import { CONFIG_KEYS, loadConfig, type LoadedConfig } from '../core/config/index.js';

/**
 * Every configuration key is also a flag (`graphql.maxDepth` → `--graphql-max-depth`), so
 * the command line overrides any setting, last in the precedence chain.
 */
export function addConfigOptions(command: Command): Command {
  command.option('-c, --config <file>', 'JSON or YAML configuration file (env PCF_CONFIG)');
  for (const key of CONFIG_KEYS) {
    const description = String(key.schema.description ?? key.path);
    command.option(`${key.flag} <value>`, `${description} (env ${key.env})`);
  }
  return command;
}

const camel = (flag: string) => flag.replace(/^--/, '').replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Loads the configuration from a command's options and the environment. */
export function configFromOptions(options: Record<string, unknown>, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const flags: Record<string, unknown> = {};
  for (const key of CONFIG_KEYS) {
    const value = options[camel(key.flag)];
    if (value !== undefined) flags[key.path] = value;
  }
  const file = (options.config as string | undefined) ?? env.PCF_CONFIG;
  return loadConfig({ file, env, flags });
}

/** Exit code for an invalid configuration (sysexits EX_CONFIG). */
export const EXIT_CONFIG = 78;

/**
 * Exit code when the embedded data directory is held by another process (sysexits
 * EX_TEMPFAIL: it works once that process, usually the server, has stopped).
 */
export const EXIT_DATA_DIR_IN_USE = 75;
