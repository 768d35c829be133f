import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { DockerfileParser } from 'dockerfile-ast';
import { validate, ValidationSeverity } from 'dockerfile-utils';

// The image cannot be built in every CI run (deploy/image/build.sh builds and proves it with
// podman where it can): this lints the Dockerfile and checks the rules that matter at run time.

const ROOT = new URL('../../', import.meta.url);
const text = readFileSync(new URL('Dockerfile', ROOT), 'utf8');
const dockerfile = DockerfileParser.parse(text);
const stages = dockerfile.getFROMs();
const runtime = dockerfile.getInstructions().filter((i) => i.getRange().start.line > stages[stages.length - 1]!.getRange().start.line);
const last = (keyword: string) => runtime.filter((i) => i.getKeyword() === keyword).at(-1);
const execForm = (keyword: string) => JSON.parse(last(keyword)!.getRawArgumentsContent()!.replace(/\\\n/g, '').trim()) as string[];

describe('Dockerfile', () => {
  it('passes dockerfile-utils lint without errors or warnings', () => {
    const problems = validate(text).filter((d) => d.severity === ValidationSeverity.ERROR || d.severity === ValidationSeverity.WARNING);
    assert.deepEqual(
      problems.map((p) => `line ${p.range.start.line + 1}: ${p.message}`),
      [],
    );
  });

  it('is multi-stage: the runtime stage copies only the bundle, the built console, migrations and production dependencies', () => {
    assert.equal(stages.length, 2);
    const runtimeStart = stages[stages.length - 1]!.getRange().start.line;
    const copies = dockerfile.getCOPYs().filter((c) => c.getRange().start.line > runtimeStart);
    for (const copy of copies)
      assert.equal(
        copy
          .getFlags()
          .find((f) => f.getName() === 'from')
          ?.getValue(),
        'build',
        `runtime files come from the build stage: ${copy.getTextContent()}`,
      );
    const sources = copies.map((c) => c.getArguments()[0]!.getValue());
    assert.deepEqual(sources.sort(), ['/out/var/lib/pcf', '/src/dist/bundle', '/src/migrations', '/src/node_modules', '/src/package.json', '/src/web/dist']);
    // node_modules is copied after the prune that drops the dev dependencies.
    assert.match(text, /npm prune --omit=dev/);
    assert.ok(text.indexOf('npm prune --omit=dev') < text.indexOf('COPY --from=build /src/node_modules'));
  });

  it('runs as a numeric non-root user, node itself as PID 1, with a health check', () => {
    const user = last('USER')!.getArgumentsContent()!;
    assert.match(user, /^[1-9]\d*(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
    const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { scripts: { start: string }; bin: { pcf: string } };
    assert.deepEqual(execForm('ENTRYPOINT'), pkg.scripts.start.split(' '), 'exec form, the same command as npm start');
    assert.equal(last('CMD'), undefined, 'no CMD: arguments given to the container are serve flags');
    const health = last('HEALTHCHECK')!.getRawArgumentsContent()!.replace(/\\\n/g, ' ');
    const command = JSON.parse(health.slice(health.indexOf('CMD') + 3).trim()) as string[];
    assert.deepEqual(command.slice(0, 3), ['node', pkg.bin.pcf, 'healthcheck'], 'exec form, pcf healthcheck');
    assert.equal(last('STOPSIGNAL')?.getArgumentsContent(), 'SIGTERM');
  });

  it('keeps local state out of the build context', () => {
    const ignore = readFileSync(new URL('.dockerignore', ROOT), 'utf8');
    assert.match(ignore, /^\*$/m, 'everything is ignored by default');
    for (const line of ignore.split('\n').filter((l) => l.startsWith('!'))) {
      const needed = ['!package.json', '!package-lock.json', '!scripts/', '!src/', '!migrations/'];
      // The SDK and the console are built in the image: their manifests and sources only.
      needed.push('!sdk/package.json', '!sdk/tsconfig.json', '!sdk/src/', '!web/package.json', '!web/scripts/', '!web/src/', '!web/graphiql/');
      assert.ok(needed.includes(line), `${line} is needed`);
    }
  });
});
