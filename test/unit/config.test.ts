import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { ConfigError, ConfigSchema, loadConfig, redactConfig, type ConfigProblem } from '../../src/core/config/index.js';

const dir = mkdtempSync(join(tmpdir(), 'pcf-config-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** Writes a config file of its own for one case and returns its path. */
function configFile(extension: string, text: string): string {
  files += 1;
  const path = join(dir, `config-${files}${extension}`);
  writeFileSync(path, text);
  return path;
}

/** The problems of a configuration that must not load. */
function problemsOf(load: () => unknown): ConfigProblem[] {
  try {
    load();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(err.problems.length > 0);
    return err.problems;
  }
  assert.fail('the configuration loaded although it is invalid');
}

function problemFor(problems: ConfigProblem[], key: string): ConfigProblem {
  const found = problems.find((p) => p.key === key);
  assert.ok(found, `a problem for ${key} among ${JSON.stringify(problems)}`);
  return found;
}

describe('configuration: defaults', () => {
  it('gives every setting a default with no source at all', () => {
    const { config, warnings } = loadConfig();
    assert.equal(config.profile, 'development');
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 8080);
    assert.equal(config.dataDir, './data');
    assert.equal(config.logLevel, 'info');
    assert.equal(config.database.url, '');
    assert.equal(config.redis.url, '');
    assert.equal(config.graphql.introspection, true);
    assert.equal(config.graphql.graphiql, true);
    assert.equal(config.shutdown.drainTimeoutMs, 30_000);
    assert.deepEqual(warnings, []);
  });
});

describe('configuration: precedence', () => {
  it('layers defaults, then the config file, then PCF_* variables, then flags', () => {
    const file = configFile(
      '.json',
      JSON.stringify({ port: 1000, host: 'file-host', logLevel: 'warn', dataDir: '/srv/file', graphql: { maxDepth: 7, maxAliases: 3 } }),
    );
    const { config } = loadConfig({
      file,
      env: { PCF_PORT: '2000', PCF_HOST: 'env-host', PCF_GRAPHQL_MAX_ALIASES: '4' },
      flags: { port: 3000 },
    });
    assert.equal(config.port, 3000, 'a flag beats the environment and the file');
    assert.equal(config.host, 'env-host', 'the environment beats the file');
    assert.equal(config.graphql.maxAliases, 4, 'the environment beats the file inside a section');
    assert.equal(config.logLevel, 'warn', 'the file beats the default');
    assert.equal(config.dataDir, '/srv/file');
    assert.equal(config.graphql.maxDepth, 7, 'a file value inside a section is kept');
    assert.equal(config.graphql.maxComplexity, 1000, 'the section keeps its other defaults');
  });

  it('reads a YAML config file (.yaml and .yml)', () => {
    for (const extension of ['.yaml', '.yml']) {
      const file = configFile(extension, 'port: 4321\nlogLevel: debug\ndatabase:\n  poolMax: 3\n  autoMigrate: false\n');
      const { config } = loadConfig({ file });
      assert.equal(config.port, 4321, extension);
      assert.equal(config.logLevel, 'debug', extension);
      assert.equal(config.database.poolMax, 3, extension);
      assert.equal(config.database.autoMigrate, false, extension);
    }
  });

  it('turns environment and flag text into the types of the schema', () => {
    const { config } = loadConfig({
      env: { PCF_DATABASE_POOL_MAX: '7', PCF_GRAPHQL_INTROSPECTION: 'false', PCF_DATABASE_AUTO_MIGRATE: 'true' },
      flags: { 'graphql.maxDepth': '9', 'http.bodyLimitBytes': '4096' },
    });
    assert.equal(config.database.poolMax, 7);
    assert.equal(config.graphql.introspection, false);
    assert.equal(config.database.autoMigrate, true);
    assert.equal(config.graphql.maxDepth, 9);
    assert.equal(config.http.bodyLimitBytes, 4096);
  });

  it('ignores flags given as undefined (options the user did not pass)', () => {
    const { config } = loadConfig({ env: { PCF_PORT: '2000' }, flags: { port: undefined } });
    assert.equal(config.port, 2000);
  });
});

describe('configuration: profiles', () => {
  it('production turns off introspection and GraphiQL by default', () => {
    for (const sources of [
      { flags: { profile: 'production' } },
      { env: { PCF_PROFILE: 'production' } },
      { file: configFile('.yaml', 'profile: production\n') },
    ]) {
      const { config } = loadConfig(sources);
      assert.equal(config.profile, 'production');
      assert.equal(config.graphql.introspection, false, JSON.stringify(sources));
      assert.equal(config.graphql.graphiql, false, JSON.stringify(sources));
    }
  });

  it('development keeps introspection and GraphiQL on', () => {
    const { config } = loadConfig({ env: { PCF_PROFILE: 'development' } });
    assert.equal(config.graphql.introspection, true);
    assert.equal(config.graphql.graphiql, true);
  });

  it('an explicit setting overrides what the production profile defaults to', () => {
    const fromFlag = loadConfig({ env: { PCF_PROFILE: 'production' }, flags: { 'graphql.introspection': 'true' } }).config;
    assert.equal(fromFlag.graphql.introspection, true);
    assert.equal(fromFlag.graphql.graphiql, false);

    const fromEnv = loadConfig({ flags: { profile: 'production' }, env: { PCF_GRAPHQL_GRAPHIQL: 'true' } }).config;
    assert.equal(fromEnv.graphql.graphiql, true);
    assert.equal(fromEnv.graphql.introspection, false);

    const fromFile = loadConfig({ file: configFile('.json', JSON.stringify({ profile: 'production', graphql: { introspection: true } })) }).config;
    assert.equal(fromFile.graphql.introspection, true);
    assert.equal(fromFile.graphql.graphiql, false);
  });

  it('refuses an unknown profile and names the allowed ones', () => {
    const problem = problemFor(
      problemsOf(() => loadConfig({ env: { PCF_PROFILE: 'staging' } })),
      'profile',
    );
    assert.match(problem.message, /development/);
    assert.match(problem.message, /production/);
    assert.match(problem.source, /PCF_PROFILE/);
  });
});

describe('configuration: validation', () => {
  // The start-up check ignores keywords it does not know; this one refuses a misspelt or misplaced one.
  it('has a schema that is valid JSON Schema', () => {
    const ajv = new Ajv({ strict: true });
    ajv.addKeyword({ keyword: 'secret', schemaType: 'boolean' });
    assert.equal(ajv.validateSchema(ConfigSchema), true, ajv.errorsText());
    // Strict mode refuses unknown keywords and misplaced ones while compiling.
    assert.doesNotThrow(() => ajv.compile(ConfigSchema));
  });

  it('reports every invalid key at once, each with what is wrong and how to fix it', () => {
    const file = configFile('.json', JSON.stringify({ port: 'eighty', logLevel: 'loud', database: { url: 'mysql://db.example/pcf' }, bogus: 1 }));
    const problems = problemsOf(() =>
      loadConfig({ file, env: { PCF_CACHE_MAX_ENTRIES: 'many', PCF_GRAPHQL_MAX_DEPTH: '0' }, flags: { 'http.bodyLimitBytes': 10 } }),
    );
    const keys = problems.map((p) => p.key).sort();
    assert.deepEqual(keys, ['bogus', 'cache.maxEntries', 'database.url', 'graphql.maxDepth', 'http.bodyLimitBytes', 'logLevel', 'port']);

    const port = problemFor(problems, 'port');
    assert.match(port.message, /integer/);
    assert.match(port.message, /0 to 65535/);
    assert.match(port.source, /file/);

    const logLevel = problemFor(problems, 'logLevel');
    assert.match(logLevel.message, /Allowed: .*info/);

    assert.match(problemFor(problems, 'database.url').message, /URL/);
    assert.match(problemFor(problems, 'bogus').message, /unknown key/i);

    const maxEntries = problemFor(problems, 'cache.maxEntries');
    assert.match(maxEntries.message, /integer/);
    assert.equal(maxEntries.source, 'env PCF_CACHE_MAX_ENTRIES');

    const maxDepth = problemFor(problems, 'graphql.maxDepth');
    assert.match(maxDepth.message, /1 to 100/);
    assert.equal(maxDepth.source, 'env PCF_GRAPHQL_MAX_DEPTH');

    const body = problemFor(problems, 'http.bodyLimitBytes');
    assert.match(body.message, /1024/);
    assert.equal(body.source, 'flag --http-body-limit-bytes');
  });

  it('puts every problem in the error message an operator reads', () => {
    try {
      loadConfig({ flags: { port: -1, logLevel: 'loud', 'graphql.maxBatch': 0 } });
      assert.fail('the configuration loaded although it is invalid');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /3 problems/);
      for (const key of ['port', 'logLevel', 'graphql.maxBatch']) assert.ok(err.message.includes(key), `message names ${key}`);
      for (const flag of ['--port', '--log-level', '--graphql-max-batch']) assert.ok(err.message.includes(flag), `message names ${flag}`);
    }
  });

  it('refuses unknown keys in a config file and lists the known ones', () => {
    const file = configFile('.yaml', 'prot: 8080\ngraphql:\n  maxDepht: 3\n');
    const problems = problemsOf(() => loadConfig({ file }));
    assert.deepEqual(problems.map((p) => p.key).sort(), ['graphql.maxDepht', 'prot']);
    assert.match(problemFor(problems, 'prot').message, /port/, 'the known keys include the one meant');
    assert.match(problemFor(problems, 'graphql.maxDepht').message, /maxDepth/);
  });

  it('names the config file as the source of an invalid value inside a section', () => {
    const file = configFile('.yaml', 'graphql:\n  maxDepth: 0\n');
    const problem = problemFor(
      problemsOf(() => loadConfig({ file })),
      'graphql.maxDepth',
    );
    assert.ok(problem.source.includes(file), `source "${problem.source}" names ${file}`);
  });

  it('reports a config file that cannot be read or parsed', () => {
    const missing = problemsOf(() => loadConfig({ file: join(dir, 'does-not-exist.yaml') }));
    assert.match(missing[0]!.message, /ENOENT|cannot read/);

    const badJson = problemsOf(() => loadConfig({ file: configFile('.json', '{ "port": 80,') }));
    assert.match(badJson[0]!.message, /JSON/);

    const badYaml = problemsOf(() => loadConfig({ file: configFile('.yaml', 'port: [1, 2\n') }));
    assert.match(badYaml[0]!.message, /YAML/);

    const notAnObject = problemsOf(() => loadConfig({ file: configFile('.json', '[1, 2]') }));
    assert.match(notAnObject[0]!.message, /object/);
  });

  it('reports a config file problem together with the other sources’ problems', () => {
    const problems = problemsOf(() => loadConfig({ file: configFile('.json', '{ nope'), flags: { port: 'x' } }));
    assert.deepEqual(problems.map((p) => p.key).sort(), ['--config', 'port']);
  });

  it('refuses a retry ceiling below the first retry wait', () => {
    const problems = problemsOf(() => loadConfig({ flags: { 'database.retryInitialMs': 500, 'database.retryMaxMs': 100 } }));
    assert.match(problemFor(problems, 'database.retryMaxMs').message, /retryInitialMs/);
  });

  it('reports a retry ceiling below the first retry wait together with the other problems', () => {
    const problems = problemsOf(() => loadConfig({ flags: { port: 'x', 'database.retryInitialMs': 500, 'database.retryMaxMs': 100 } }));
    assert.deepEqual(problems.map((p) => p.key).sort(), ['database.retryMaxMs', 'port']);
  });

  it('refuses a GraphQL points budget below the most an operation may cost, unless rate limiting is off', () => {
    const flags = { 'graphql.maxComplexity': 2000, 'rateLimit.graphqlPointsPerWindow': 1500 };
    const problems = problemsOf(() => loadConfig({ flags }));
    assert.match(problemFor(problems, 'rateLimit.graphqlPointsPerWindow').message, /graphql\.maxComplexity/);
    assert.doesNotThrow(() => loadConfig({ flags: { ...flags, 'rateLimit.enabled': false } }));
  });

  it('refuses GraphQL variables smaller than the largest resource data', () => {
    const flags = { 'resources.maxDataBytes': 2_000_000, 'graphql.maxVariablesBytes': 1_500_000 };
    assert.match(
      problemFor(
        problemsOf(() => loadConfig({ flags })),
        'graphql.maxVariablesBytes',
      ).message,
      /resources\.maxDataBytes/,
    );
  });

  it('refuses a body-bytes budget below the largest body accepted', () => {
    const flags = { 'http.bodyLimitBytes': 4_194_304, 'rateLimit.bodyBytesPerWindow': 2_097_152 };
    assert.match(
      problemFor(
        problemsOf(() => loadConfig({ flags })),
        'rateLimit.bodyBytesPerWindow',
      ).message,
      /http\.bodyLimitBytes/,
    );
    assert.equal(loadConfig({ flags: { 'http.bodyLimitBytes': 4_194_304 } }).config.rateLimit.bodyBytesPerWindow, 33_554_432);
  });
});

describe('configuration: the queue URL', () => {
  it('refuses a queue URL no adapter could use, among the other problems, without quoting it', () => {
    for (const url of [
      'kafka://user:secret@a:9092',
      'kafka://a b:9092',
      'kafka://a:9092/x',
      'kafka://a:9092,',
      'nats://',
      'nats:// ,',
      'nats://a:4222/x',
      'nats://secret@a,other@b',
      'nats://a:99999',
    ]) {
      const problems = problemsOf(() => loadConfig({ env: { PCF_QUEUE_URL: url }, flags: { port: 'x' } }));
      assert.deepEqual(problems.map((p) => p.key).sort(), ['port', 'queue.url'], url);
      const problem = problemFor(problems, 'queue.url');
      assert.equal(problem.source, 'env PCF_QUEUE_URL');
      assert.match(problem.message, /URL/, url);
      assert.ok(!JSON.stringify(problems).includes('secret'), `${url} is not quoted`);
    }
  });

  it('names the broker the URL is wrong for', () => {
    assert.match(
      problemFor(
        problemsOf(() => loadConfig({ flags: { 'queue.url': 'kafka://a:9092/x' } })),
        'queue.url',
      ).message,
      /Kafka/,
    );
    assert.match(
      problemFor(
        problemsOf(() => loadConfig({ flags: { 'queue.url': 'nats:// ,' } })),
        'queue.url',
      ).message,
      /NATS/,
    );
  });

  it('accepts NATS server lists with credentials and Kafka broker lists', () => {
    for (const url of [
      '',
      'nats://127.0.0.1:4222',
      'nats://user:p%40ss@nats-1:4222,nats://user:p%40ss@nats-2:4222',
      'nats://user:pass@nats-1:4222, nats-2',
      'nats://s3cr3t-token@nats.internal',
      'nats://[::1]:4222',
      'kafka://kafka-1:9092,kafka-2:9092',
      'kafka://[::1]',
    ]) {
      assert.equal(loadConfig({ env: { PCF_QUEUE_URL: url } }).config.queue.url, url);
    }
  });
});

describe('configuration: environment', () => {
  it('warns about an unknown PCF_ variable instead of failing', () => {
    const { config, warnings } = loadConfig({ env: { PCF_PROT: '80', PCF_PORT: '81', HOME: '/root', PATH: '/bin' } });
    assert.equal(config.port, 81);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /PCF_PROT/);
  });

  it('does not warn about variables meant for the tools around the server', () => {
    const { warnings } = loadConfig({
      env: { PCF_TEST_DATABASE_URL: 'postgres://x@y/z', PCF_URL: 'http://127.0.0.1:8080', PCF_CONFIG: '/etc/pcf.yaml', PCF_TOKEN: 't' },
    });
    assert.deepEqual(warnings, []);
  });
});

describe('configuration: frozen after load', () => {
  it('refuses every change, at any depth', () => {
    const { config } = loadConfig({ flags: { port: 1234 } });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.database));
    assert.ok(Object.isFrozen(config.graphql));
    // ES modules run in strict mode: writing to a frozen object throws.
    assert.throws(() => {
      config.port = 1;
    }, TypeError);
    assert.throws(() => {
      config.graphql.introspection = false;
    }, TypeError);
    assert.throws(() => {
      (config as unknown as Record<string, unknown>).extra = 1;
    }, TypeError);
    assert.equal(config.port, 1234);
    assert.equal(config.graphql.introspection, true);
  });

  it('gives each load a configuration of its own', () => {
    const production = loadConfig({ flags: { profile: 'production' } }).config;
    const development = loadConfig().config;
    assert.equal(production.graphql.introspection, false);
    assert.equal(development.graphql.introspection, true, 'a production load leaves nothing behind');
  });
});

describe('configuration: redaction', () => {
  it('hides URL credentials and keeps the rest of the URL', () => {
    const { config } = loadConfig({
      flags: { 'database.url': 'postgres://pcf:s3cret-pw@db.internal:5432/pcf', 'redis.url': 'redis://:r3dis-pw@cache.internal:6379/0' },
    });
    const text = JSON.stringify(redactConfig(config));
    assert.ok(!text.includes('s3cret-pw'), text);
    assert.ok(!text.includes('r3dis-pw'), text);
    assert.ok(text.includes('db.internal'), text);
    assert.ok(text.includes('cache.internal'), text);
    assert.equal(config.database.url, 'postgres://pcf:s3cret-pw@db.internal:5432/pcf', 'the configuration itself keeps the secret');
  });

  it('hides a password given as a URL query parameter', () => {
    // node-postgres (and libpq) accept ?password=…; it is as secret as the user-info part.
    const { config } = loadConfig({ flags: { 'database.url': 'postgres://pcf@db.internal:5432/pcf?sslmode=require&password=s3cret-pw' } });
    const text = JSON.stringify(redactConfig(config));
    assert.ok(!text.includes('s3cret-pw'), text);
    assert.ok(text.includes('db.internal'), text);
  });

  it('leaves settings that are not secret as they are', () => {
    const { config } = loadConfig({ flags: { host: '127.0.0.1', port: 9000 } });
    const redacted = redactConfig(config) as { host: string; port: number; database: { url: string } };
    assert.equal(redacted.host, '127.0.0.1');
    assert.equal(redacted.port, 9000);
    assert.equal(redacted.database.url, '');
  });
});

describe('configuration: prototype keys, secrets in syntax errors and unworkable timeouts refused', () => {
  it('refuses keys that would reach Object.prototype', () => {
    const file = configFile('.json', '{ "__proto__": { "polluted": "yes" }, "database": { "constructor": { "x": 1 } } }');
    const problems = problemsOf(() => loadConfig({ file }));
    assert.ok(
      problems.some((p) => p.key === '__proto__'),
      JSON.stringify(problems),
    );
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing leaked onto every object');
  });

  it('does not quote the file around a JSON syntax error', () => {
    const file = configFile('.json', '{ "database": { "url": postgres://pcf:s3cret-pw@db/pcf } }');
    const problems = problemsOf(() => loadConfig({ file }));
    assert.match(problems[0]!.message, /not valid JSON/);
    assert.ok(!JSON.stringify(problems).includes('s3cret-pw'), JSON.stringify(problems));
  });

  it('refuses timeouts and lifetimes that would break the server', () => {
    const problems = problemsOf(() =>
      loadConfig({ flags: { 'cache.defaultTtlMs': 0, 'database.retryInitialMs': 0, 'health.checkTimeoutMs': 0, 'database.connectTimeoutMs': 0 } }),
    );
    assert.deepEqual(problems.map((p) => p.key).sort(), [
      'cache.defaultTtlMs',
      'database.connectTimeoutMs',
      'database.retryInitialMs',
      'health.checkTimeoutMs',
    ]);
  });
});
