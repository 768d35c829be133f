/**
 * `npm run bench:profile -- <file.cpuprofile | dir> [top]`: summarises V8 CPU profiles (as
 * BENCH_CPU_PROF writes them) by self time, per function and per file, so a run's profile
 * can be read without Chrome DevTools. With a directory, its newest profile is read.
 *
 * Files under node_modules are named by their package, the project's own by their path
 * under the repository, Node's internals as `node:…`; `(garbage collector)`, `(program)`
 * and `(idle)` are V8's own entries.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function newestProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const files = readdirSync(path)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => join(path, f))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) throw new Error(`no .cpuprofile in ${path}`);
  return files[0]!;
}

/** A short name for a script URL: the package under node_modules, else the path from the repository or node's own. */
function fileOf(url: string): string {
  if (url === '') return '(native)';
  if (url.startsWith('node:')) return url;
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = path.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  const src = path.search(/\/(dist\/)?(before\/)?src\//);
  return src >= 0 ? path.slice(src + 1) : path;
}

function main(): void {
  const [target, topArg] = process.argv.slice(2);
  if (!target) {
    console.error('usage: node --import tsx bench/cpu-profile.ts <file.cpuprofile | dir> [top]');
    process.exit(2);
  }
  const file = newestProfile(target);
  const top = Number(topArg ?? 40);
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  // Self time per node: the sum of the time deltas of its samples.
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) selfUs.set(samples[i]!, (selfUs.get(samples[i]!) ?? 0) + (deltas[i] ?? 0));
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)') {
      idle += us;
      continue;
    }
    total += us;
    const where = fileOf(url);
    const fn = `${functionName || '(anonymous)'} ${where}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  }
  // Inclusive time per function (its own and its callees', within the same synchronous
  // stack), each sample counted once per function however deep the recursion.
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n: ProfileNode) =>
    `${n.callFrame.functionName || '(anonymous)'} ${fileOf(n.callFrame.url)}${n.callFrame.url ? `:${n.callFrame.lineNumber + 1}` : ''}`;
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = nodes.get(at)!;
      if (n.callFrame.functionName === '(idle)' || n.callFrame.functionName === '(root)') continue;
      const key = keyOf(n);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const ms = (us: number) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  const print = (title: string, rows: Map<string, number>) => {
    console.log(`\n${title}`);
    for (const [name, us] of [...rows].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(us)} ${ms(us)}  ${name}`);
  };
  console.log(
    `${file}: ${(total / 1000).toFixed(0)} ms busy, ${(idle / 1000).toFixed(0)} ms idle over ${((profile.endTime - profile.startTime) / 1e6).toFixed(1)} s`,
  );
  print('self time by file', byFile);
  print('self time by function', byFunction);
  const filter = process.env.PROFILE_FILTER ? new RegExp(process.env.PROFILE_FILTER) : /(^|\s)src\//;
  print(`inclusive time by function matching ${filter}`, new Map([...inclusive].filter(([k]) => filter.test(k))));
}

main();
