// The webhook delivery API (admin keys): list the outbox (e.g. the dead letters), read one
// delivery, and send one again. The endpoints' API is webhook-endpoints.ts.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parse } from '../common/validate.ts';
import { viewDelivery, type Webhooks } from '../events/webhooks.ts';
import { zodRoute } from './openapi.ts';

export interface WebhookRouteDeps {
  webhooks: Pick<Webhooks, 'list' | 'get' | 'redeliver'>;
}

const listQuery = z.object({
  status: z.enum(['pending', 'delivered', 'dead']).optional(),
  eventType: z
    .string()
    .regex(/^[a-z]+\.[a-z_]+$/, 'is not an event type')
    .optional(),
  connectionId: z.string().max(128).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
const idParams = z.object({
  id: z.string().regex(/^whd_[A-Za-z0-9_-]{10,64}$/, 'is not a delivery id'),
});

export function registerWebhookRoutes(app: FastifyInstance, { webhooks }: WebhookRouteDeps): void {
  // The outbox holds every app's events: the operator's, like redelivery.
  const admin = { config: { access: 'admin' as const } };
  const deliveriesRoute = { ...admin, ...zodRoute({ querystring: listQuery }) };
  app.get('/api/webhooks/deliveries', deliveriesRoute, async (request) => {
    const query = parse(listQuery, request.query, 'query');
    const rows = await webhooks.list(query);
    return { deliveries: rows.map(viewDelivery) };
  });

  const byId = { ...admin, ...zodRoute({ params: idParams }) };
  app.get('/api/webhooks/deliveries/:id', byId, async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return viewDelivery(await webhooks.get(id));
  });

  app.post('/api/webhooks/deliveries/:id/redeliver', byId, async (request, reply) => {
    const { id } = parse(idParams, request.params, 'path');
    return reply.code(202).send(viewDelivery(await webhooks.redeliver(id)));
  });
}
