import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import proxyaddr from 'proxy-addr';
import type { App } from '../app.js';

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The client's address: the socket's peer, or, when that peer is a trusted proxy, the
     * address the proxies report (`Forwarded`, else `X-Forwarded-For`). Rate limits, login
     * limits, sessions and audit lines all use this one value.
     */
    readonly clientAddress: string;
  }
}

type Trust = (address: string, hop: number) => boolean;

/**
 * One hop of a `Forwarded` header (RFC 7239) reduced to its `for=` address: quotes, the
 * brackets of IPv6 and a port are removed. Obfuscated identifiers (`_hidden`, `unknown`)
 * are kept as they are and never match an address.
 */
function forwardedFor(element: string): string {
  for (const pair of element.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    let value = pair.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    if (value.startsWith('[')) return value.slice(1, value.indexOf(']') < 0 ? undefined : value.indexOf(']'));
    const colon = value.indexOf(':');
    // One colon is an IPv4 address with a port; several are a bare IPv6 address.
    return colon >= 0 && value.indexOf(':', colon + 1) < 0 ? value.slice(0, colon) : value;
  }
  return '';
}

/** The addresses the proxies report, nearest first. */
function reportedHops(request: FastifyRequest): string[] {
  const forwarded = request.headers.forwarded;
  if (typeof forwarded === 'string' && forwarded !== '') return forwarded.split(',').map(forwardedFor).reverse();
  const xff = request.headers['x-forwarded-for'];
  const list = Array.isArray(xff) ? xff.join(',') : xff;
  return list ? list.split(',').map((hop) => hop.trim()).reverse() : [];
}

/**
 * Walks from the socket's peer towards the client while each address is a trusted proxy;
 * the first untrusted one is the client. A hop that is not an address (a proxy that hides
 * it) stops the walk at the proxy that reported it, so a client can never choose its own
 * identity by writing a header: only what trusted proxies append is believed.
 */
export function resolveClientAddress(request: FastifyRequest, trust: Trust | undefined): string {
  const peer = request.socket?.remoteAddress ?? request.ip;
  if (!trust || !trust(peer, 0)) return peer;
  let client = peer;
  const hops = reportedHops(request);
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

export function registerClientAddress(app: App, trustProxy: string): void {
  const trust = trustFunction(trustProxy);
  app.decorateRequest('clientAddress', {
    getter(this: FastifyRequest) {
      let address = resolved.get(this);
      if (address === undefined) {
        address = resolveClientAddress(this, trust);
        resolved.set(this, address);
      }
      return address;
    },
  });
}

/**
 * Whether the client reached the edge over TLS: the socket itself, or a trusted proxy that
 * says so (`X-Forwarded-Proto` through Fastify, or `proto=` of its `Forwarded` element).
 */
export function cameOverTls(request: FastifyRequest, trust: Trust | undefined): boolean {
  if (request.protocol === 'https') return true;
  const forwarded = request.headers.forwarded;
  if (!trust || typeof forwarded !== 'string' || !trust(request.socket?.remoteAddress ?? '', 0)) return false;
  const nearest = forwarded.split(',').at(-1) ?? '';
  return /(?:^|;)\s*proto\s*=\s*"?https"?\s*(?:;|$)/i.test(nearest);
}
