// The webhook endpoint API (admin keys): make an endpoint (its signing secret is answered once,
// then kept sealed), list, read, change and delete them. Endpoints from the configuration file
// are listed too, read only.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/logger.ts';
import type { Sealer } from '../common/seal.ts';
import { parse } from '../common/validate.ts';
import type { Config } from '../config/schema.ts';
import { webhookEndpointSchema } from '../config/schema-background.ts';
import { createWebhookEndpoints } from '../events/endpoints.ts';
import type { Store } from '../store/port.ts';
import { zodRoute } from './openapi.ts';

export interface WebhookEndpointRouteDeps {
  config: Pick<Config, 'webhooks'>;
  store: Pick<Store, 'webhooks'>;
  sealer: Pick<Sealer, 'seal'>;
  clock: Clock;
  logger: Logger;
}

const { url, events } = webhookEndpointSchema.shape;
const description = z.string().trim().max(200).nullable();

const createBody = z.object({
  /** https, or plain http only to this machine. */
  url,
  description: description.optional(),
  /** Event types or families (`connection.*`); all when absent or null. */
  events: events.unwrap().nullable().optional(),
});
const updateBody = z
  .object({
    url: url.optional(),
    description: description.optional(),
    events: events.unwrap().nullable().optional(),
  })
  .refine((b) => Object.keys(b).length > 0, 'change at least one of url, description, events');
const idParams = z.object({
  id: z.string().regex(/^(wep|ep)_[A-Za-z0-9_-]{10,64}$/, 'is not a webhook endpoint id'),
});

export function registerWebhookEndpointRoutes(
  app: FastifyInstance,
  deps: WebhookEndpointRouteDeps,
): void {
  const endpoints = createWebhookEndpoints(deps);
  // Where every app's events go: the operator's, like the outbox.
  const admin = { config: { access: 'admin' as const } };

  app.post(
    '/api/webhooks/endpoints',
    { ...admin, ...zodRoute({ body: createBody }) },
    async (request, reply) => {
      const body = parse(createBody, request.body, 'body');
      const { endpoint, secret } = await endpoints.create(body);
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...endpoint, secret });
    },
  );

  app.get('/api/webhooks/endpoints', admin, async () => ({ endpoints: await endpoints.list() }));

  const byId = { ...admin, ...zodRoute({ params: idParams }) };
  app.get('/api/webhooks/endpoints/:id', byId, async (request) => {
    const { id } = parse(idParams, request.params, 'path');
    return endpoints.get(id);
  });

  app.patch(
    '/api/webhooks/endpoints/:id',
    { ...admin, ...zodRoute({ params: idParams, body: updateBody }) },
    async (request) => {
      const { id } = parse(idParams, request.params, 'path');
      return endpoints.update(id, parse(updateBody, request.body, 'body'));
    },
  );

  app.delete('/api/webhooks/endpoints/:id', byId, async (request, reply) => {
    const { id } = parse(idParams, request.params, 'path');
    await endpoints.delete(id);
    return reply.code(204).send();
  });
}
