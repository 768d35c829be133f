import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import proxyaddr from 'proxy-addr';
import type { App } from '../app.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The client's address: the socket's peer, or, when that peer is a trusted proxy, the
     * address the proxies report (`X-Forwarded-For`, or `Forwarded` by `http.proxyHeader`). Rate limits, login
     * limits, sessions and audit lines all use this one value.
     */
    readonly clientAddress: string;
  }
}

type Trust = (address: string, hop: number) => boolean;

export type ProxyHeader = 'x-forwarded-for' | 'forwarded';

/**
 * A reported address without the decorations proxies add: quotes, the brackets of IPv6, a
 * port (`1.2.3.4:5678`, `"[2001:db8::1]:443"`). Obfuscated identifiers (`_hidden`,
 * `unknown`) come back as they are and are never an address.
 */
function bareAddress(value: string): string {
  let v = value.trim();
  if (v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    return end < 0 ? v : v.slice(1, end);
  }
  const colon = v.indexOf(':');
  // One colon is an IPv4 address with a port; several are a bare IPv6 address.
  return colon >= 0 && v.indexOf(':', colon + 1) < 0 ? v.slice(0, colon) : v;
}

/** The `for=` of one element of a `Forwarded` header (RFC 7239), or '' without one. */
function forwardedFor(element: string): string {
  for (const pair of element.split(';')) {
    const eq = pair.indexOf('=');
    if (eq >= 0 && pair.slice(0, eq).trim().toLowerCase() === 'for') return bareAddress(pair.slice(eq + 1));
  }
  return '';
}

/**
 * The addresses the proxies report, nearest first, from the one header they are configured
 * to write. The other header is never read: a proxy that appends to X-Forwarded-For passes a
 * client's own `Forwarded` through untouched, and the reverse.
 */
function reportedHops(request: FastifyRequest, header: ProxyHeader): string[] {
  const raw = request.headers[header];
  const value = Array.isArray(raw) ? raw.join(',') : raw;
  if (!value) return [];
  const hops = value.split(',');
  return (header === 'forwarded' ? hops.map(forwardedFor) : hops.map(bareAddress)).reverse();
}

/**
 * Walks from the socket's peer towards the client while each address is a trusted proxy;
 * the first untrusted one is the client. A hop that is not an address (a proxy that hides
 * it) stops the walk at the proxy that reported it, so a client can never choose its own
 * identity by writing a header: only what trusted proxies append is believed.
 */
export function resolveClientAddress(request: FastifyRequest, trust: Trust | undefined, header: ProxyHeader): string {
  const peer = request.socket?.remoteAddress ?? request.ip;
  if (!trust || !trust(peer, 0)) return peer;
  let client = peer;
  const hops = reportedHops(request, header);
  for (let i = 0; i < hops.length; i++) {
    const hop = hops[i]!;
    if (isIP(hop) === 0) break;
    client = hop;
    if (!trust(hop, i + 1)) break;
  }
  return client;
}

/** `http.trustProxy` as a trust function: none, any, or addresses and CIDRs. */
export function trustFunction(trustProxy: string): Trust | undefined {
  if (trustProxy === '') return undefined;
  if (trustProxy === 'true') return () => true;
  return proxyaddr.compile(trustProxy.split(',').map((s) => s.trim()));
}

const resolved = new WeakMap<FastifyRequest, string>();

export function registerClientAddress(app: App, trustProxy: string, header: ProxyHeader): void {
  const trust = trustFunction(trustProxy);
  app.decorateRequest('clientAddress', {
    getter(this: FastifyRequest) {
      let address = resolved.get(this);
      if (address === undefined) {
        address = resolveClientAddress(this, trust, header);
        resolved.set(this, address);
      }
      return address;
    },
  });
}

/**
 * Whether the client reached the edge over TLS: the socket itself, or a trusted proxy that
 * says so (`X-Forwarded-Proto` through Fastify, or `proto=` of the nearest `Forwarded`
 * element when that is the proxies' header).
 */
export function cameOverTls(request: FastifyRequest, trust: Trust | undefined, header: ProxyHeader): boolean {
  if (request.protocol === 'https') return true;
  const forwarded = request.headers.forwarded;
  if (header !== 'forwarded' || !trust || typeof forwarded !== 'string' || !trust(request.socket?.remoteAddress ?? '', 0)) return false;
  const nearest = forwarded.split(',').at(-1) ?? '';
  return /(?:^|;)\s*proto\s*=\s*"?https"?\s*(?:;|$)/i.test(nearest);
}
