import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CODES, appError, isAppError } from '../../src/core/errors.js';
import { packageRoot } from '../../src/core/package.js';

describe('error registry', () => {
  const doc = readFileSync(join(packageRoot(), 'docs', 'errors.md'), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| `([A-Z_]+)`\s*\| (\d{3})\s*\|/gm)].map((m) => [m[1]!, Number(m[2])] as const));

  it('documents every code with its HTTP status in docs/errors.md', () => {
    for (const [code, { status }] of Object.entries(ERROR_CODES)) {
      assert.equal(documented.get(code), status, `docs/errors.md must list ${code} with status ${status}`);
    }
  });

  it('documents no code that does not exist', () => {
    for (const code of documented.keys()) assert.ok(code in ERROR_CODES, `docs/errors.md lists unknown code ${code}`);
  });

  it('gives each status one code, so statuses map back to codes unambiguously', () => {
    const statuses = Object.values(ERROR_CODES).map((c) => c.status);
    assert.equal(new Set(statuses).size, statuses.length);
  });

  it('creates errors through one factory carrying code, status and field problems', () => {
    const err = appError('INVALID_INPUT', 'bad', { errors: [{ field: 'body/email', message: 'is invalid' }] });
    assert.ok(isAppError(err));
    assert.equal(err.status, 400);
    assert.equal(err.code, 'INVALID_INPUT');
    assert.deepEqual(err.errors, [{ field: 'body/email', message: 'is invalid' }]);
    assert.equal(isAppError(new Error('x')), false);
  });
});
