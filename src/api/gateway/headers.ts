import cors from '@fastify/cors';
import type { onSendHookHandler } from 'fastify';
import type { Config } from '../../core/config/index.js';
import type { App } from '../app.js';
import { cameOverTls, trustFunction } from './client-address.js';

/** Headers every response carries: no MIME sniffing, never framed, no referrer leaks. */
const ALWAYS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
} as const;

/**
 * The pages PCF serves (the web console, the API reference at /docs, GraphiQL) load only this
 * server's scripts. The console's policy is the strict one: no inline script or style at all
 * (its styles are files, and what its scripts style goes through the CSSOM, which a policy
 * does not govern). swagger-ui and GraphiQL set inline styles from their scripts, and
 * GraphiQL's stylesheet embeds its fonts as data: URLs. JSON responses need no policy.
 */
const STRICT_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  // 'self' covers the same origin's ws:// and wss:// (CSP level 3), where live updates come from.
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');
const PAGE_POLICY = STRICT_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
const GRAPHIQL_POLICY = PAGE_POLICY.replace("font-src 'self'", "font-src 'self' data:").replace("default-src 'self'", "default-src 'self'; worker-src 'self'");

function policyOf(url: string): string {
  if (url.startsWith('/console')) return STRICT_POLICY;
  return url.startsWith('/graphiql') ? GRAPHIQL_POLICY : PAGE_POLICY;
}

/**
 * The API's responses carry tokens, sessions, accounts and documents: a browser or a proxy
 * must not keep them (a shared computer's disk cache, a CDN in front of the API). The public
 * pages (the API reference, /openapi.json) stay cacheable.
 */
const PRIVATE_ROUTES = /^\/(api\/|graphql)/;

/** The routes that serve pages: the console, the API reference and GraphiQL. */
const HTML_ROUTES = /^\/(console|docs|graphiql)(\/|$)/;

/** One year, the value HSTS preload lists ask for. */
const HSTS = 'max-age=31536000; includeSubDomains';

/** What a browser client may send and read across origins. */
const CORS_REQUEST_HEADERS = ['authorization', 'content-type', 'if-match', 'if-none-match', 'idempotency-key', 'traceparent', 'x-request-id'];
const CORS_EXPOSED_HEADERS = ['etag', 'location', 'retry-after', 'ratelimit', 'ratelimit-policy', 'idempotent-replayed', 'x-request-id', 'traceresponse'];

/**
 * Security headers on every response, `Cache-Control: no-store` on every API and GraphQL
 * response (errors included), a CSP on HTML pages, HSTS when the client came over
 * TLS (directly or through a trusted proxy that says so), and CORS for the origins listed
 * in `http.corsOrigins`. CORS is registered first, so a browser's preflight is answered
 * before the rate limiter and authentication run.
 */
export async function registerSecurityHeaders(app: App, http: Config['http']): Promise<void> {
  const origins = http.corsOrigins === '' ? [] : http.corsOrigins.split(',').map((o) => o.trim());
  if (origins.length > 0) {
    const options = {
      origin: origins.includes('*') ? '*' : origins,
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
      allowedHeaders: CORS_REQUEST_HEADERS,
      exposedHeaders: CORS_EXPOSED_HEADERS,
      // Tokens travel in Authorization, never in cookies: no credentialed requests.
      credentials: false,
      maxAge: 600,
      strictPreflight: false,
    };
    // Only a real preflight (Origin and Access-Control-Request-Method) is answered by the
    // plugin; any other OPTIONS request goes on through the rate limiter to the router,
    // which answers it with a problem+json 404.
    const preflight = { ...options, preflight: true };
    const other = { ...options, preflight: false };
    await app.register(cors, {
      delegator: (request, callback) =>
        callback(null, request.headers.origin !== undefined && request.headers['access-control-request-method'] !== undefined ? preflight : other),
    });
  }
  const trust = trustFunction(http.trustProxy);
  // A callback hook, set before anything can fail: every response gets the headers, errors
  // included, at the cost of one call per request (no promise, no onSend pass).
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(ALWAYS);
    // Set first, so a route that knows better (none does today) can still override it.
    if (PRIVATE_ROUTES.test(request.url)) reply.header('cache-control', 'no-store');
    if (cameOverTls(request, trust, http.proxyHeader)) reply.header('strict-transport-security', HSTS);
    done();
  });
  // The CSP goes on the HTML pages only, added to their routes as they are registered.
  app.addHook('onRoute', (route) => {
    if (!HTML_ROUTES.test(route.url)) return;
    const policy = policyOf(route.url);
    const addPolicy: onSendHookHandler = (_request, reply, payload, done) => {
      const type = reply.getHeader('content-type');
      if (typeof type === 'string' && type.startsWith('text/html')) reply.header('content-security-policy', policy);
      done(null, payload);
    };
    route.onSend = [...[route.onSend ?? []].flat(), addPolicy];
  });
}
