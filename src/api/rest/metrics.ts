import type { Metrics } from '../../infra/telemetry/metrics.js';
import type { App } from '../app.js';

/** Prometheus scrape endpoint. */
export function registerMetricsRoute(app: App, metrics: Metrics): void {
  app.get(
    '/metrics',
    { schema: { tags: ['operations'], summary: 'Prometheus metrics in the text exposition format' } },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.render()),
  );
}
