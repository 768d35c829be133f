import { isIPv6 } from 'node:net';

/**
 * The grammar of PCF_QUEUE_URL, in one place: the configuration loader refuses a URL the
 * queue adapters could not use (instead of the adapter retrying it for ever as "unreachable"),
 * and the adapters read their brokers from it. Errors never quote the URL: it is
 * configuration marked secret and may hold credentials.
 */
export interface HostPort {
  host: string;
  port: number;
}

/** The servers of a NATS URL, and the credentials some of its entries carried. */
export interface NatsServers {
  /** `host:port`, an IPv6 host in brackets. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
}

const KAFKA_USAGE = 'invalid Kafka URL: expected kafka://host:port[,host:port...]';
const NATS_USAGE = 'invalid NATS URL: expected nats://[user:password@ or token@]host:port[,host:port...]';
// A host name (with `_`, which Docker Compose service names may have), IPv4, or [IPv6]; then an optional port.
const HOST = String.raw`(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?))(?::(\d{1,5}))?`;
const BROKER = new RegExp(`^${HOST}$`);
// Userinfo as RFC 3986 has it, less the comma that separates servers (write it %2C).
const NATS_SERVER = new RegExp(String.raw`^(?:([A-Za-z0-9\-._~!$&'()*+;=%:]+)@)?${HOST}$`);

/** `kafka://host:port[,host:port...]` → brokers (port 9092 by default). Kafka credentials are not supported. */
export function parseKafkaUrl(url: string): HostPort[] {
  return entries(url, 'kafka://', KAFKA_USAGE).map((entry, i) => {
    const broker = hostPort(BROKER.exec(entry), 1, 9092);
    if (!broker) throw new TypeError(`${KAFKA_USAGE} (broker ${i + 1} is not host:port)`);
    return broker;
  });
}

/**
 * `nats://[user:password@|token@]host:port[,...]` → servers and credentials (port 4222 by
 * default). The NATS client ignores credentials written in a server URL, so they are taken
 * out here and given to it as options; the entries that carry some must carry the same.
 */
export function parseNatsUrl(url: string): NatsServers {
  const parsed = entries(url, 'nats://', NATS_USAGE).map((entry, i) => {
    const match = NATS_SERVER.exec(entry);
    const server = hostPort(match, 2, 4222);
    const credentials = match?.[1] ?? '';
    if (!server || !validCredentials(credentials)) throw new TypeError(`${NATS_USAGE} (server ${i + 1} is not [credentials@]host:port)`);
    return { server: `${server.host.includes(':') ? `[${server.host}]` : server.host}:${server.port}`, credentials };
  });
  const given = new Set(parsed.map((p) => p.credentials).filter((c) => c !== ''));
  if (given.size > 1) throw new TypeError(`${NATS_USAGE} (the servers carry different credentials)`);
  return { servers: parsed.map((p) => p.server), ...credentialsOf([...given][0]) };
}

/** Why `url` is no queue URL the server can use (undefined when it is one; empty is the in-process queue). */
export function queueUrlProblem(url: string): string | undefined {
  try {
    if (url.startsWith('nats://')) parseNatsUrl(url);
    else if (url.startsWith('kafka://')) parseKafkaUrl(url);
    else if (url !== '') return 'expected nats://… or kafka://…';
    return undefined;
  } catch (err) {
    if (err instanceof TypeError) return err.message;
    throw err;
  }
}

/** The comma-separated entries after the scheme; each may repeat the scheme. */
function entries(url: string, scheme: string, usage: string): string[] {
  if (!url.startsWith(scheme)) throw new TypeError(usage);
  return url
    .slice(scheme.length)
    .split(',')
    .map((s) => s.trim())
    .map((s) => (s.startsWith(scheme) ? s.slice(scheme.length) : s));
}

/** The host and port of a match of HOST whose first group is `first`, or undefined if it did not match or the port is out of range. */
function hostPort(match: RegExpExecArray | null, first: number, defaultPort: number): HostPort | undefined {
  if (!match) return undefined;
  const [ipv6, name, portText] = [match[first], match[first + 1], match[first + 2]];
  const port = Number(portText ?? defaultPort);
  if (port < 1 || port > 65_535 || (ipv6 !== undefined && !isIPv6(ipv6))) return undefined;
  return { host: (ipv6 ?? name)!, port };
}

/** None, a token, or `user:password` with a user; percent-encoding that decodes. */
function validCredentials(userinfo: string): boolean {
  if (userinfo.startsWith(':')) return false;
  try {
    decodeURIComponent(userinfo);
    return true;
  } catch {
    return false;
  }
}

/** `user:password` or a token, percent-decoded. */
function credentialsOf(userinfo: string | undefined): Pick<NatsServers, 'user' | 'pass' | 'token'> {
  if (userinfo === undefined) return {};
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { token: decodeURIComponent(userinfo) };
  return { user: decodeURIComponent(userinfo.slice(0, colon)), pass: decodeURIComponent(userinfo.slice(colon + 1)) };
}
