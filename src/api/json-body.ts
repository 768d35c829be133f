import type { App } from './app.js';
import { markInexactNumbers } from './json-numbers.js';

/**
 * The JSON body parser of REST and GraphQL over HTTP: Fastify's own, with two changes.
 *
 * - `__proto__` and `constructor.prototype` keys are parsed as the plain own properties
 *   JSON.parse makes of them (no prototype is touched), not refused as "not valid JSON":
 *   the service refuses them where free-form JSON is stored, with their path, as it does
 *   for GraphQL and WebSocket; strict route schemas refuse them as unknown fields.
 * - Numbers that would not read back as written (e.g. 9007199254740993) are marked first
 *   (json-numbers.ts), so the service refuses them instead of storing another number.
 */
export function registerJsonBody(app: App): void {
  const parse = app.getDefaultJsonParser('ignore', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    parse(request, markInexactNumbers(body as string), done);
  });
}
