import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { configFromEnv, PLACEHOLDER_SECRETS, SECRET_ENV, shutdownGraceMs } from './settings.js';

// deploy/compose.yaml cannot be run here (no Docker engine, no registry for its images): its
// structure is checked instead, as Compose would read it (YAML merge keys resolved).

/* eslint-disable @typescript-eslint/no-explicit-any -- parsed YAML, checked field by field */
const text = readFileSync(new URL('../../deploy/compose.yaml', import.meta.url), 'utf8');
const compose = parse(text, { merge: true }) as { services: Record<string, any>; configs: Record<string, { content: string }> };
const services = compose.services;
const PCF = ['api', 'auth', 'worker'];

/** Compose's interpolation, with the secrets it asks the environment for set to stand-ins. */
function interpolate(value: string): string {
  return value.replace(/\$\{([A-Z_]+)(?::?[-?][^}]*)?\}/g, (_, name: string) => {
    if (name === 'PCF_POSTGRES_PASSWORD') return 'placeholder';
    if (name === 'PCF_METRICS_TOKEN') return PLACEHOLDER_SECRETS.PCF_METRICS_TOKEN!;
    if (name === 'PCF_IMAGE') return 'pcf-api';
    assert.fail(`compose.yaml reads an undocumented variable ${name}`);
  });
}

describe('deploy/compose.yaml', () => {
  it('has the topology: nginx, 3 api, 2 auth, 1 worker, migrate, PostgreSQL, Redis, NATS', () => {
    assert.deepEqual(Object.keys(services).sort(), ['api', 'auth', 'migrate', 'nats', 'nginx', 'postgres', 'redis', 'worker']);
    assert.deepEqual(
      PCF.map((name) => services[name].deploy.replicas),
      [3, 2, 1],
    );
    for (const [name, service] of Object.entries(services)) assert.ok(service.image, `${name} names its image`);
    assert.equal(new Set([...PCF, 'migrate'].map((name) => services[name].image)).size, 1, 'one PCF image');
  });

  it('runs each role with real settings, secrets from the environment only', () => {
    for (const name of PCF) {
      const env = Object.fromEntries(Object.entries(services[name].environment as Record<string, string>).map(([k, v]) => [k, interpolate(String(v))]));
      assert.equal(env.PCF_ROLES, name);
      const config = configFromEnv(env, `service ${name}`);
      assert.equal(config.database.autoMigrate, false, 'the migrate service migrates');
      for (const secret of SECRET_ENV) {
        const raw = services[name].environment[secret] as string | undefined;
        if (raw === undefined || secret === 'PCF_REDIS_URL' || secret === 'PCF_QUEUE_URL') continue;
        assert.match(raw, /\$\{PCF_[A-Z_]+:\?/, `${secret} comes from the environment, required`);
      }
    }
    assert.match(services.postgres.environment.POSTGRES_PASSWORD, /^\$\{PCF_POSTGRES_PASSWORD:\?/);
  });

  it('migrates before the instances start, and gives them time to drain', () => {
    assert.deepEqual(services.migrate.entrypoint, ['node', 'dist/bundle/pcf.js', 'migrate', 'up']);
    assert.equal(services.migrate.depends_on.postgres.condition, 'service_healthy');
    for (const name of PCF) {
      const service = services[name];
      assert.equal(service.depends_on.migrate.condition, 'service_completed_successfully', name);
      const config = configFromEnv({ ...PLACEHOLDER_SECRETS, PCF_ROLES: name }, name);
      assert.ok(parseInt(service.stop_grace_period, 10) * 1000 > config.shutdown.drainTimeoutMs + shutdownGraceMs(), `${name}: grace`);
      assert.equal(service.user, '10001:10001');
      assert.equal(service.read_only, true);
      assert.deepEqual(service.cap_drop, ['ALL']);
    }
  });

  it('routes /api/v1/auth/ to auth and the rest to api through nginx, for WebSockets too', () => {
    const conf = compose.configs.nginx!.content.replaceAll('$$', '$');
    assert.match(conf, /location \/api\/v1\/auth\/ \{ proxy_pass http:\/\/pcf_auth; \}/);
    assert.match(conf, /location \/ \{ proxy_pass http:\/\/pcf_api; \}/);
    assert.match(conf, /upstream pcf_auth \{\s+server auth:8080/);
    assert.match(conf, /upstream pcf_api \{\s+server api:8080/);
    assert.match(conf, /proxy_set_header Upgrade \$http_upgrade;/);
    assert.doesNotMatch(conf, /non_idempotent/);
    // Compose would replace a single $ with an environment variable (most likely empty).
    assert.doesNotMatch(text.slice(text.indexOf('configs:\n  #')), /[^$]\$[a-z_]/, 'nginx variables are written $$');
  });
});
