import { Type } from '@sinclair/typebox';
import { HealthService } from '../../services/health/health.service.js';
import type { App } from '../app.js';
import { responseHeaders } from '../openapi-contract.js';

const CheckSchema = Type.Object({
  status: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  latencyMs: Type.Integer(),
  error: Type.Optional(Type.String()),
});
const ReadinessSchema = Type.Object({
  status: Type.Union([Type.Literal('healthy'), Type.Literal('degraded'), Type.Literal('unhealthy'), Type.Literal('starting')]),
  checks: Type.Record(Type.String(), CheckSchema),
});

/**
 * Liveness and readiness probes (DESIGN §5 "Operations"); neither needs authentication, and
 * neither is rate limited: a probe refused with 429 would make a healthy instance look dead.
 */
export function registerHealthRoutes(app: App, health: HealthService): void {
  app.get(
    '/health',
    {
      config: { rateLimit: 'exempt' },
      schema: {
        tags: ['operations'],
        operationId: 'getLiveness',
        security: [],
        summary: 'Liveness: 200 while the process serves',
        description: 'No authentication; never rate limited.',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      config: { rateLimit: 'exempt' },
      schema: {
        tags: ['operations'],
        operationId: 'getReadiness',
        security: [],
        ...responseHeaders({ 200: ['Cache-Control'], 503: ['Cache-Control'] }),
        summary: 'Readiness: 200 when healthy or degraded, 503 otherwise, within 5 s',
        description: 'No authentication; never rate limited.',
        response: { 200: ReadinessSchema, 503: ReadinessSchema },
      },
    },
    async (_request, reply) => {
      const readiness = await health.readiness();
      reply.header('cache-control', 'no-store');
      return reply.code(HealthService.isReady(readiness.status) ? 200 : 503).send(readiness);
    },
  );
}
