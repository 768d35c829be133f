/**
 * How much CPU other work took while a scenario was measured. On a shared 2-core machine a
 * test suite running next to the benchmark halves a server's throughput, and the run only
 * shows odd numbers. This module reads /proc (Linux only) at the start and the end of a
 * measurement: the share of all CPU time that went to processes that are not this run's
 * (the harness, its server's process group, and the PostgreSQL backends connected to the
 * benchmark database) is the "other" CPU, reported per scenario.
 */
import { readdir, readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

interface Sample {
  /** Busy and total jiffies of all CPUs together. */
  busy: number;
  total: number;
  /** utime + stime of every process that counts as this run's, by pid. */
  ours: Map<number, number>;
}

async function readSample(serverGroup: number, databaseName: string): Promise<Sample | undefined> {
  try {
    const stat = await readFile('/proc/stat', 'utf8');
    const fields = stat.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const busy = total - (fields[3] ?? 0) - (fields[4] ?? 0);
    const ours = new Map<number, number>();
    const backend = ` ${databaseName} `;
    for (const entry of await readdir('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      try {
        const text = await readFile(`/proc/${pid}/stat`, 'utf8');
        // The command name is in parentheses and may hold spaces: fields start after the last ')'.
        const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
        const group = Number(rest[2]);
        let mine = pid === process.pid || group === serverGroup;
        if (!mine && text.includes('(postgres)')) {
          const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replace(/\0/g, ' ');
          mine = cmdline.includes(backend);
        }
        if (mine) ours.set(pid, Number(rest[11]) + Number(rest[12]));
      } catch {
        // the process ended while we looked
      }
    }
    return { busy, total, ours };
  } catch {
    return undefined; // not Linux
  }
}

/**
 * Starts watching; the returned function gives the percentage of the machine's CPU (all
 * cores = 100 %) that other processes used in between, or undefined where /proc is missing.
 */
export async function watchOtherCpu(serverGroup: number, databaseName: string): Promise<() => Promise<number | undefined>> {
  const start = await readSample(serverGroup, databaseName);
  return async () => {
    const end = await readSample(serverGroup, databaseName);
    if (!start || !end || end.total <= start.total) return undefined;
    let ours = 0;
    // Processes that started in between count from zero.
    for (const [pid, t] of end.ours) ours += t - (start.ours.get(pid) ?? 0);
    const other = Math.max(0, end.busy - start.busy - ours);
    return Math.round((1000 * other) / (end.total - start.total)) / 10;
  };
}

/** Number of CPUs, for the warning text ("one core" = 100 / cpus %). */
export const CPU_COUNT = cpus().length;
