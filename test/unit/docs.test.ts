import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CONFIG_KEYS } from '../../src/core/config/index.js';
import { packageRoot } from '../../src/core/package.js';

const read = (file: string) => readFileSync(join(packageRoot(), file), 'utf8');

describe('documentation stays in step with the code', () => {
  it('README lists every configuration key with its variable and flag', () => {
    const readme = read('README.md');
    for (const key of CONFIG_KEYS) {
      const row = readme.split('\n').find((line) => line.startsWith(`| \`${key.path}\` |`));
      assert.ok(row, `README.md has a row for ${key.path}`);
      assert.ok(row!.includes(`\`${key.env}\``) && row!.includes(`\`${key.flag}\``), `the row for ${key.path} names ${key.env} and ${key.flag}`);
    }
  });

  it('docs/dependencies.md explains every runtime dependency', () => {
    const doc = read('docs/dependencies.md');
    const { dependencies } = JSON.parse(read('package.json')) as { dependencies: Record<string, string> };
    for (const name of Object.keys(dependencies)) {
      const short = name.replace(/^@escape\.tech\/graphql-armor-/, '-');
      assert.ok(doc.includes(`\`${name}\``) || doc.includes(`\`${short}\``), `docs/dependencies.md mentions ${name}`);
    }
  });
});
