// `GET /metrics`: the runtime's registry in Prometheus' text format. An admin API key is needed
// (Prometheus sends it as `authorization: Bearer …`): the labels name the practices served.
import type { FastifyInstance } from 'fastify';
import type { Metrics } from './index.ts';

export function registerMetricsRoute(api: FastifyInstance, metrics: Pick<Metrics, 'registry'>) {
  api.get('/metrics', { config: { access: 'admin' } }, async (_request, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });
}
