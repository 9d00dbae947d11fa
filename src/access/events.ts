// The event log as a caller may read it, oldest first, with a cursor (`after` = the last event id
// seen): an app key reads its own connections' events only, an admin key every event.
import type { EventRecord, Store } from '../store/port.ts';
import { type Caller, connectionFor, isVisibleTo } from './ownership.ts';

export interface EventQuery {
  after?: string;
  connectionId?: string;
  type?: string;
  limit: number;
}

export interface EventPage {
  events: EventRecord[];
  /** Where the next read resumes: past everything read, shown or not; null when none was. */
  next: string | null;
}

/** Events read per store call while skipping those the caller may not see. */
const BATCH = 200;

type EventStore = Pick<Store, 'events' | 'connections'>;

/** Whether the caller may read an event, each connection looked up once per call. */
function readableBy(store: EventStore, caller: Caller): (e: EventRecord) => Promise<boolean> {
  const visible = new Map<string, boolean>();
  return async (e) => {
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
}

export async function eventsFor(
  store: EventStore,
  caller: Caller,
  query: EventQuery,
): Promise<EventPage> {
  // One connection's events: the same 404 as its other routes when it is not the caller's.
  if (query.connectionId) await connectionFor(store, caller, query.connectionId);
  const mayRead = readableBy(store, caller);
  const events: EventRecord[] = [];
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
  return { events, next: after ?? null };
}
