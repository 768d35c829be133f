import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { appError } from '../../core/errors.js';
import type { Metrics } from '../../infra/telemetry/metrics.js';
import { bearerToken } from '../../services/auth/tokens.js';
import type { App } from '../app.js';
import { responseHeaders } from '../openapi-contract.js';
import { problemRef } from '../schemas.js';

export interface MetricsRouteOptions {
  /** `metrics.token`: the bearer token a scrape must send; empty leaves /metrics open. */
  token: string;
  /** Charges a refused token like any anonymous request (the gateway's; absent without rate limits). */
  onRefused?: (request: FastifyRequest) => Promise<void>;
}

/**
 * Prometheus scrape endpoint. With `metrics.token` set it is out of every rate-limit budget,
 * like the health probes (a scraper polls from one address, and gaps in metrics hide an
 * incident), and what it reveals (route names, traffic, pool sizes) is guarded by the token
 * instead; a wrong token is charged to the anonymous budget, so it cannot be guessed faster
 * than anything else. Without a token it is an anonymous endpoint like any other, in the
 * anonymous budget: a rendering costs far more than a health probe, and an open, unmetered
 * route would let anyone spend it in a loop. A token rather than a second port: one listener
 * to expose and secure, and Prometheus sends one with `authorization: { credentials: … }`.
 */
export function registerMetricsRoute(app: App, metrics: Metrics, options: MetricsRouteOptions): void {
  const expected = options.token ? digest(options.token) : undefined;
  app.get(
    '/metrics',
    {
      config: expected ? { rateLimit: 'exempt' } : {},
      schema: {
        tags: ['operations'],
        operationId: 'getMetrics',
        security: [{}, { metricsToken: [] }],
        ...responseHeaders({ 200: ['Cache-Control'] }),
        summary: 'Prometheus metrics in the text exposition format',
        description:
          'When `metrics.token` is set, send `Authorization: Bearer <metrics.token>` (without it, or with another, 401) and the route is never rate limited. Without `metrics.token` it is open and in the anonymous budget, like any request without a token.',
        response: {
          200: { description: 'The metrics', content: { 'text/plain': { schema: { type: 'string' } } } },
          401: problemRef,
        },
      },
    },
    async (request, reply) => {
      if (expected) {
        const given = bearerToken(request.headers.authorization);
        if (given === undefined || !timingSafeEqual(digest(given), expected)) {
          await options.onRefused?.(request);
          throw appError('UNAUTHORIZED', 'The metrics need a token: send Authorization: Bearer <metrics.token>.', {
            headers: { 'www-authenticate': 'Bearer realm="metrics"' },
          });
        }
      }
      reply.header('cache-control', 'no-store');
      return reply.type(metrics.contentType).send(await metrics.render());
    },
  );
}

// Equal-length digests, so the comparison takes the same time whatever was sent.
const digest = (value: string) => createHash('sha256').update(value).digest();
