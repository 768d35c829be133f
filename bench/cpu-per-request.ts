/** What the in-process CPU benchmarks (graphql-cpu, list-cpu) share. */

/** Microseconds of CPU (user + system) per request over `requests` sequential requests. */
export async function cpuPerRequest(send: () => Promise<unknown>, requests: number): Promise<number> {
  const before = process.cpuUsage();
  for (let i = 0; i < requests; i++) await send();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / requests;
}

export const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
