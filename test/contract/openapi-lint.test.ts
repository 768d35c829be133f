import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { packageRoot } from '../../src/core/package.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The served OpenAPI document as third-party tools read it: Redocly's recommended rules
 * find no error, and the warnings left are the ones docs/contract.md explains.
 */

interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer: string }[];
}

/** Warnings docs/contract.md explains ("What Redocly still warns about"), as rule and place. */
const EXPLAINED_WARNINGS = [
  'info-license #/info',
  'operation-4xx-response #/paths/~1health/get/responses',
  'operation-4xx-response #/paths/~1health~1ready/get/responses',
];

type Operation = { operationId?: string; responses: Record<string, { $ref?: string; content?: Record<string, unknown> }> };

describe('the served OpenAPI document', () => {
  let t: TestServer;
  let document: { paths: Record<string, Record<string, Operation>> };
  let dir: string;
  before(async () => {
    t = await startTestServer('pglite');
    document = (await (await fetch(`${t.url}/openapi.json`)).json()) as typeof document;
    dir = mkdtempSync(join(tmpdir(), 'pcf-redocly-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await t.close();
  });

  it('passes Redocly lint (recommended rules) without an error, and with only the explained warnings', async () => {
    const file = join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(document));
    const bin = join(packageRoot(), 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    // Offline: no telemetry, no update check (both would call out to the network).
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', CI: 'true' };
    const run = await promisify(execFile)(process.execPath, [bin, 'lint', file, '--format=json'], { env, cwd: dir, maxBuffer: 16 * 1024 * 1024 }).catch(
      (err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }),
    );
    const report = JSON.parse(run.stdout) as { totals: { errors: number; warnings: number }; problems: LintProblem[] };
    const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    assert.deepEqual(errors, []);
    const warnings = report.problems.filter((p) => p.severity === 'warn').map((p) => `${p.ruleId} ${p.location[0]?.pointer}`);
    assert.deepEqual(warnings.sort(), [...EXPLAINED_WARNINGS].sort());
  });

  it('names every operation with a unique camelCase operationId', () => {
    const ids = Object.values(document.paths).flatMap((item) => Object.values(item).map((operation) => operation.operationId));
    for (const id of ids) assert.match(String(id), /^[a-z][A-Za-z0-9]*$/);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('declares every REST error as a shared problem+json response', () => {
    for (const [path, item] of Object.entries(document.paths)) {
      if (path === '/graphql') continue;
      for (const [method, operation] of Object.entries(item)) {
        for (const [status, response] of Object.entries(operation.responses)) {
          if (Number(status) < 400 || (path === '/health/ready' && status === '503')) continue;
          assert.match(response.$ref ?? '', /^#\/components\/responses\/[A-Za-z]+$/, `${method} ${path} ${status}`);
        }
      }
    }
  });
});
