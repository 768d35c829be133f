// `npm run build` bundles the server and the `pcf` command into dist/bundle/ (after tsc, before
// the PGlite template). A start then loads a few files instead of several hundred modules
// spread over node_modules: resolving and reading them was most of a restart's main-thread
// time (bench/start.ts; docs/architecture.md, "Start-up").
//
// Left outside the bundle, loaded from node_modules at run time:
// - packages with native code or files they read beside themselves (PGlite's WASM and data,
//   argon2's binding, swagger-ui's static assets);
// - the drivers and clients the server loads only when configured (they are required lazily
//   through createRequire, which the bundler does not follow).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(root, 'dist', 'bundle');
rmSync(outdir, { recursive: true, force: true });

await build({
  absWorkingDir: root,
  entryPoints: { main: 'src/main.ts', pcf: 'src/cli/main.ts' },
  outdir,
  bundle: true,
  // The dynamic imports (the CLI's commands, the server behind `serve`) stay chunks of their
  // own, so PGlite still opens while the server's code loads.
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@electric-sql/pglite', 'argon2', 'pg-native', '@fastify/swagger-ui'],
  // Bundled CommonJS packages call require(); in an ES module it has to be made.
  banner: { js: "import { createRequire as __pcfCreateRequire } from 'node:module'; const require = __pcfCreateRequire(import.meta.url);" },
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
