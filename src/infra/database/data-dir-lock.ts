import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname, uptime } from 'node:os';
import { join } from 'node:path';

/**
 * One process owns an embedded data directory (DESIGN §1). PGlite is PostgreSQL compiled to
 * WASM: it has no postmaster and no shared memory, so two processes opening the same
 * directory each run their own backend over the same files, and whichever writes last wins;
 * the other's acknowledged writes are gone after a restart. A lock file created with O_EXCL
 * makes the second opener fail before PGlite touches a file.
 *
 * The file holds `{ pid, host, startedAt }`. A lock whose process is gone is stale and taken
 * over: on the same host when that pid is not running (or is this very process, which holds
 * no lock of that path: a container restarted with the same pid), or on any host when it
 * predates the last boot. A lock from another host that may still be alive (a directory on a
 * network share) is never taken: the operator removes it.
 */
export const LOCK_FILE = 'pcf.lock';

export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time at which the holder took the lock. */
  startedAt: string;
}

/**
 * The data directory is held by another process. Not a client-facing error (no request can
 * cause it): the CLI prints its message and exits with its own code.
 */
export class DataDirInUseError extends Error {
  readonly dataDir: string;
  readonly holder: LockHolder | undefined;
  constructor(dataDir: string, holder: LockHolder | undefined) {
    const who = holder ? `process ${holder.pid}${holder.host === hostname() ? '' : ` on ${holder.host}`} (since ${holder.startedAt})` : 'another process';
    super(
      `the data directory ${dataDir} is in use by ${who}; stop the server or use the API` +
        (holder && holder.host !== hostname() ? ` (if that process is gone, remove ${join(dataDir, LOCK_FILE)})` : ''),
    );
    this.name = 'DataDirInUseError';
    this.dataDir = dataDir;
    this.holder = holder;
  }
}

export const isDataDirInUse = (err: unknown): err is DataDirInUseError => err instanceof DataDirInUseError;

/** Paths this process holds, so a second open in the same process is refused too. */
const held = new Set<string>();
let exitHookInstalled = false;

/**
 * Takes the lock of `dataDir` (which must exist) or throws DataDirInUseError. Returns the
 * release function: idempotent, and also run on process exit, so only SIGKILL or a crash of
 * the machine leaves a lock behind (and that one is stale).
 */
export function lockDataDir(dataDir: string): () => void {
  const path = join(dataDir, LOCK_FILE);
  if (held.has(path)) throw new DataDirInUseError(dataDir, readHolder(path));
  const mine: LockHolder = { pid: process.pid, host: hostname(), startedAt: new Date().toISOString() };
  // Two rounds: one to find a stale lock and remove it, one to take its place. Another
  // process doing the same at the same moment loses the O_EXCL race and is refused.
  for (let round = 0; ; round++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(path);
      if (round > 0 || !isStale(holder)) throw new DataDirInUseError(dataDir, holder);
      try {
        unlinkSync(path);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      continue;
    }
    try {
      writeSync(fd, `${JSON.stringify(mine)}\n`);
    } finally {
      closeSync(fd);
    }
    break;
  }
  held.add(path);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const p of held) removeIfMine(p);
    });
  }
  return () => {
    if (!held.delete(path)) return;
    removeIfMine(path);
  };
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const value = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockHolder>;
    if (typeof value.pid === 'number' && typeof value.host === 'string' && typeof value.startedAt === 'string') {
      return { pid: value.pid, host: value.host, startedAt: value.startedAt };
    }
  } catch {
    // Unreadable or half-written: treated as held, the safe side.
  }
  return undefined;
}

function isStale(holder: LockHolder | undefined): boolean {
  if (!holder) return false;
  // Another host's process cannot be seen from here (a shared or network volume): never
  // taken over, whatever its age, or two writers are back.
  if (holder.host !== hostname()) return false;
  const bootedAt = Date.now() - uptime() * 1000;
  if (Date.parse(holder.startedAt) < bootedAt) return true;
  // This process holds no lock of this path (checked above): a pid reused after a restart.
  if (holder.pid === process.pid) return true;
  return !isRunning(holder.pid);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it runs, as another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the lock file unless another process took it over since (it was stale to them). */
function removeIfMine(path: string): void {
  const holder = readHolder(path);
  if (holder && (holder.pid !== process.pid || holder.host !== hostname())) return;
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}
