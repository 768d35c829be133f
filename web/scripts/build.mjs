// Builds the console into web/dist/ (served by the server at /console/, src/api/console.ts):
// esbuild bundles web/src/main.tsx with Preact's JSX, splits what only some pages need
// (the JSON editor) into chunks of their own, names every file by its content hash, and this
// script writes index.html around the entry's files. It also copies GraphiQL's browser files
// beside them (web/dist/graphiql/), so /graphiql needs no CDN either.
//
// `node web/scripts/build.mjs --watch` rebuilds on change while `npm run dev` serves them.
import { build, context } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(web, 'dist');
const watch = process.argv.includes('--watch');

/** @type {import('esbuild').BuildOptions} */
const options = {
  absWorkingDir: web,
  entryPoints: { console: 'src/main.tsx' },
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  chunkNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: ['chrome111', 'firefox111', 'safari16.4'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  minify: !watch,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': watch ? '"development"' : '"production"' },
};

/** index.html from the template, pointing at the entry's hashed script and stylesheet. */
function writeIndex(metafile) {
  const [outputPath, entry] = Object.entries(metafile.outputs).find(([, output]) => output.entryPoint === 'src/main.tsx');
  const script = `./assets/${basename(outputPath)}`;
  const style = entry.cssBundle ? `./assets/${basename(entry.cssBundle)}` : undefined;
  const template = readFileSync(join(web, 'src', 'index.html'), 'utf8');
  const html = template
    .replace('<!-- style -->', style ? `<link rel="stylesheet" href="${style}">` : '')
    .replace('<!-- script -->', `<script type="module" src="${script}"></script>`);
  writeFileSync(join(out, 'index.html'), html);
}

/** GraphiQL and the React it runs on, as their packages ship them for browsers. */
function copyGraphiql() {
  const require = createRequire(join(web, 'package.json'));
  const dir = join(out, 'graphiql');
  mkdirSync(dir, { recursive: true });
  const files = [
    ['react', 'umd/react.production.min.js'],
    ['react-dom', 'umd/react-dom.production.min.js'],
    ['graphiql', 'graphiql.min.js'],
    ['graphiql', 'graphiql.min.css'],
  ];
  for (const [pkg, file] of files) {
    const source = join(dirname(require.resolve(`${pkg}/package.json`)), file);
    copyFileSync(source, join(dir, basename(file)));
  }
  for (const file of ['start.js', 'page.css']) copyFileSync(join(web, 'graphiql', file), join(dir, file));
}

/**
 * Brotli and gzip copies beside every script, stylesheet and page, made once here at the
 * highest levels, so the server sends them as they are (`preCompressed`) instead of
 * compressing on every request or not at all.
 */
function precompress(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) precompress(path);
    else if (/\.(js|css|html)$/.test(entry.name)) {
      const content = readFileSync(path);
      writeFileSync(`${path}.br`, brotliCompressSync(content, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
      writeFileSync(`${path}.gz`, gzipSync(content, { level: 9 }));
    }
  }
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
copyGraphiql();
if (watch) {
  const ctx = await context({
    ...options,
    plugins: [{ name: 'index', setup: (b) => b.onEnd((result) => result.metafile && writeIndex(result.metafile)) }],
  });
  await ctx.watch();
  console.log(`watching web/src, writing ${relative(process.cwd(), out)}`);
} else {
  const result = await build(options);
  writeIndex(result.metafile);
  precompress(out);
}
