/**
 * The published contract: what `npm run contract` writes under contract/ and the staleness
 * test compares. One definition for both, so they cannot disagree on how a file is rendered.
 */
export interface ContractFile {
  /** Path from the repository root. */
  file: string;
  /** Where a running server serves it. */
  route: string;
  /** The served body as it is checked in. */
  render(body: string): string;
}

export const CONTRACT_FILES: readonly ContractFile[] = [
  // Indented so a change reviews as a readable diff; key order is the server's.
  { file: 'contract/openapi.json', route: '/openapi.json', render: (body) => `${JSON.stringify(JSON.parse(body), null, 2)}\n` },
  { file: 'contract/schema.graphql', route: '/graphql/schema.graphql', render: (body) => (body.endsWith('\n') ? body : `${body}\n`) },
];

/** Fetches a path from a server: `app.inject` in process, or `fetch` over a socket. */
export type Get = (path: string) => Promise<{ status: number; body: string }>;

/** Every contract file's content as the server serves it now. */
export async function servedContract(get: Get): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const { file, route, render } of CONTRACT_FILES) {
    const { status, body } = await get(route);
    if (status !== 200) throw new Error(`GET ${route} answered ${status}`);
    files.set(file, render(body));
  }
  return files;
}
