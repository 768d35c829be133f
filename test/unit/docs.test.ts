import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
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
      // Cells may be padded (the tables are prettier-formatted).
      const row = readme.split('\n').find((line) => new RegExp(`^\\|\\s*\`${key.path.replace(/\./g, '\\.')}\`\\s*\\|`).test(line));
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

  it('the repository carries its own design and points at nothing outside it', () => {
    const design = read('docs/design.md');
    for (const section of ['## 5. Contract', '## 6. Performance targets']) assert.ok(design.includes(section), `docs/design.md has "${section}"`);
    // Every tracked text file: a link or path that climbs out of the repository would break in
    // a clone of it alone.
    const files = execFileSync('git', ['ls-files', '-z'], { cwd: packageRoot(), encoding: 'utf8' })
      .split('\0')
      .filter((f) => /\.(md|ts|js|json|ya?ml|sql)$/.test(f) && f !== 'package-lock.json');
    assert.ok(files.length > 50, 'git lists the repository');
    const outside = files.filter(
      (f) => /\.\.\/shared\/(?:DESIGN|STYLE|seed)|\]\(\.\.\/shared|shared\/DESIGN\.md/.test(read(f)) && f !== 'test/unit/docs.test.ts',
    );
    assert.deepEqual(outside, [], 'files that point outside the repository');
  });
});
