import { CONFIG_KEYS, type Config } from './schema.js';

const REDACTED = '[redacted]';
const SECRET_PARAM = /pass|pwd|secret|token|key/i;

/** Hides the secret part of a value: a URL keeps its scheme, host and path, loses credentials. */
function redactValue(value: unknown): unknown {
  if (typeof value !== 'string' || value === '') return value;
  try {
    const url = new URL(value);
    // Drivers also take credentials as query parameters (?password=, ?sslpassword=).
    const secretParams = [...url.searchParams.keys()].filter((name) => SECRET_PARAM.test(name));
    if (!url.username && !url.password && secretParams.length === 0) return value;
    for (const name of secretParams) url.searchParams.set(name, 'REDACTED');
    const credentials = Boolean(url.username || url.password);
    url.username = '';
    url.password = '';
    // URL would percent-encode the marker, so it is put back in as plain text.
    const text = url.toString().replaceAll('=REDACTED', `=${REDACTED}`);
    return credentials ? text.replace('//', `//${REDACTED}@`) : text;
  } catch {
    return REDACTED;
  }
}

/** A deep copy of the configuration with every secret key redacted, safe to print or log. */
export function redactConfig(config: Config): Record<string, unknown> {
  const copy = structuredClone(config) as Record<string, unknown>;
  for (const key of CONFIG_KEYS) {
    if (!key.secret) continue;
    const parts = key.path.split('.');
    let node: Record<string, unknown> | undefined = copy;
    for (const part of parts.slice(0, -1)) node = node?.[part] as Record<string, unknown> | undefined;
    const leaf = parts[parts.length - 1]!;
    if (node && leaf in node) node[leaf] = redactValue(node[leaf]);
  }
  return copy;
}
