import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, loadConfig, type Config } from '../../src/core/config/index.js';

/** Stand-ins for the values a Secret or the environment gives; only their form is checked. */
export const PLACEHOLDER_SECRETS: Record<string, string> = {
  PCF_DATABASE_URL: 'postgres://pcf:placeholder@db.invalid:5432/pcf',
  PCF_REDIS_URL: 'redis://redis.invalid:6379',
  PCF_QUEUE_URL: 'nats://nats.invalid:4222',
  PCF_METRICS_TOKEN: 'placeholder-metrics-token-0123456789',
  PCF_MAIL_SMTP_URL: 'smtp://mail.invalid:587',
};

export const SECRET_ENV = new Set(CONFIG_KEYS.filter((k) => k.secret).map((k) => k.env));

/**
 * Loads the configuration a container would see from `env`, as the server does: every variable
 * must be a setting of this server (an unknown one would be ignored with a warning, so a typo
 * or a setting this version lacks silently does nothing) and every value must pass the schema.
 */
export function configFromEnv(env: Record<string, string>, where: string): Config {
  const { config, warnings } = loadConfig({ env });
  if (warnings.length > 0) {
    const roles = Object.keys(env).includes('PCF_ROLES') && !CONFIG_KEYS.some((k) => k.env === 'PCF_ROLES');
    throw new Error(
      `${where}: ${warnings.join('; ')}` + (roles ? ' (PCF_ROLES comes with the roles change of issue 17: merge it before these manifests)' : ''),
    );
  }
  return config;
}

/** The pause `node -e "setTimeout(() => {}, N)"` makes, in ms; the manifests' preStop uses it. */
export function preStopPauseMs(command: readonly string[] | undefined): number {
  if (!command) return 0;
  const match = /setTimeout\(\(\) => \{\}, (\d+)\)/.exec(command.join(' '));
  if (!match) throw new Error(`a preStop command the tests cannot read: ${command.join(' ')}`);
  return Number(match[1]);
}

/** What the server allows itself after the drain before it exits (src/cli/serve.ts). */
export function shutdownGraceMs(): number {
  const source = readFileSync(new URL('../../src/cli/serve.ts', import.meta.url), 'utf8');
  const match = /const SHUTDOWN_GRACE_MS = ([\d_]+);/.exec(source);
  if (!match) throw new Error('SHUTDOWN_GRACE_MS not found in src/cli/serve.ts');
  return Number(match[1]!.replaceAll('_', ''));
}
