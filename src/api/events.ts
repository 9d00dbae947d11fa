// GET /api/events: the event log as the caller may read it (access/events.ts), oldest first,
// read with a cursor, the way an app catches up on what its webhooks said.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { eventsFor } from '../access/events.ts';
import { parse } from '../common/validate.ts';
import { withoutSecrets } from '../events/payload.ts';
import type { EventRecord, Store } from '../store/port.ts';
import { callerOf } from './api-keys.ts';

export interface EventRouteDeps {
  store: Pick<Store, 'events' | 'connections'>;
}

const eventsQuery = z.object({
  after: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,80}$/, 'is not an event id')
    .optional(),
  connectionId: z
    .string()
    .regex(/^con_[A-Za-z0-9_-]{10,64}$/, 'is not a connection id')
    .optional(),
  type: z
    .string()
    .regex(/^[a-z]+\.[a-z_]+$/, 'is not an event type')
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

export interface EventView {
  id: string;
  type: string;
  connectionId: string | null;
  data: Record<string, unknown>;
  createdAt: string;
}

export function viewEvent(e: EventRecord): EventView {
  return {
    id: e.id,
    type: e.type,
    connectionId: e.connectionId,
    data: withoutSecrets(e.data) as Record<string, unknown>,
    createdAt: new Date(e.createdAt).toISOString(),
  };
}

export function registerEventRoutes(app: FastifyInstance, { store }: EventRouteDeps): void {
  app.get('/api/events', async (request) => {
    const query = parse(eventsQuery, request.query, 'query');
    const page = await eventsFor(store, callerOf(request), query);
    return { events: page.events.map(viewEvent), next: page.next };
  });
}
