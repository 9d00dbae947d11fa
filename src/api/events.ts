// GET /api/events: the event log, oldest first, read with a cursor (`after` = the last event id
// seen), the way an app catches up on what its webhooks said. An app key reads its own
// connections' events only; an admin key every event.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { withoutSecrets } from '../events/payload.ts';
import type { EventRecord, Store } from '../store/port.ts';
import { callerOf } from './api-keys.ts';
import { parse } from './connections.ts';
import { connectionFor, isVisibleTo } from './ownership.ts';

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

/** Events read per store call while skipping those the caller may not see. */
const BATCH = 200;

export function registerEventRoutes(app: FastifyInstance, { store }: EventRouteDeps): void {
  app.get('/api/events', async (request) => {
    const query = parse(eventsQuery, request.query, 'query');
    const caller = callerOf(request);
    // One connection's events: the same 404 as its other routes when it is not the caller's.
    if (query.connectionId) await connectionFor(store, caller, query.connectionId);
    const visible = new Map<string, boolean>();
    const mayRead = async (e: EventRecord) => {
      if (caller.role === 'admin') return true;
      if (e.connectionId === null) return false;
      let known = visible.get(e.connectionId);
      if (known === undefined) {
        const c = await store.connections.get(e.connectionId);
        // A deleted connection's events stay; whose they were is no longer known.
        known = c !== undefined && isVisibleTo(caller, c);
        visible.set(e.connectionId, known);
      }
      return known;
    };
    const events: EventRecord[] = [];
    // The cursor moves past what was read, shown or not, so the next call resumes there.
    let after = query.after;
    for (;;) {
      const batch = await store.events.list({
        ...(query.connectionId ? { connectionId: query.connectionId } : {}),
        ...(after ? { after } : {}),
        limit: BATCH,
      });
      for (const e of batch) {
        after = e.id;
        if ((query.type === undefined || e.type === query.type) && (await mayRead(e))) {
          events.push(e);
          if (events.length === query.limit) break;
        }
      }
      if (events.length === query.limit || batch.length < BATCH) break;
    }
    return { events: events.map(viewEvent), next: after ?? null };
  });
}
