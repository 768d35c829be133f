import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/**
 * The folder holding this package's package.json, whether the code runs from `src/` (tsx)
 * or from the build in `dist/src/`.
 */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'migrations'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`package root not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return (root = dir);
}

/** This package's name and version. */
export function packageInfo(): { name: string; version: string } {
  const json = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { name: string; version: string };
  return { name: json.name, version: json.version };
}

/** What a running server says about itself (GraphQL `server`, the REST index, OpenAPI). */
export interface ServerInfo {
  name: string;
  version: string;
  profile: string;
}
