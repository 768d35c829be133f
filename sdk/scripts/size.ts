/**
 * `npm run sdk:size`: what the SDK adds to a browser app, minified and gzipped, without and
 * with live subscriptions (graphql-ws). Each figure bundles every export of the entry, so an
 * app that imports less ships less.
 */
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const ENTRIES = {
  core: "export * from './sdk/src/index.ts';",
  'core + live': "export * from './sdk/src/index.ts'; export * from './sdk/src/live/index.ts';",
} as const;

export interface Size {
  entry: keyof typeof ENTRIES;
  minified: number;
  gzipped: number;
  text: string;
}

/** Bundles one entry as an app would (browser, ESM, minified) and measures it. */
export async function measure(entry: keyof typeof ENTRIES): Promise<Size> {
  const result = await build({
    stdin: { contents: ENTRIES[entry], resolveDir: ROOT, loader: 'ts' },
    bundle: true,
    minify: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const text = result.outputFiles[0]!.text;
  return { entry, minified: Buffer.byteLength(text), gzipped: gzipSync(text, { level: 9 }).length, text };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const entry of Object.keys(ENTRIES) as (keyof typeof ENTRIES)[]) {
    const { minified, gzipped } = await measure(entry);
    process.stdout.write(`${entry.padEnd(12)} ${kb(minified).padStart(9)} minified ${kb(gzipped).padStart(8)} gzipped\n`);
  }
}
