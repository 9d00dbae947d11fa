// The connections a caller may see (GET /api/connections, the dashboard, the CLI), newest
// first, filtered by state, practice and userRef, paged by an opaque cursor. The filters run
// while reading the caller's rows in batches, so a page costs the rows read up to its last
// match, never the whole table at once.
import { z } from 'zod';
import { BridgeError } from '../common/errors.ts';
import type { ConnectionRecord, ConnectionState, Store } from '../store/port.ts';
import { type Caller, connectionsOf, storedUserRef } from './ownership.ts';

export const CONNECTION_STATES = [
  'pending',
  'active',
  'declined',
  'expired',
  'revoked',
  'reauthorization_required',
  'error',
] as const satisfies readonly ConnectionState[];

/** `active,expired` → the states; an unknown one is a 400 naming the known ones. */
export function parseStates(text: string): ConnectionState[] {
  const states = text.split(',');
  const unknown = states.filter((s) => !(CONNECTION_STATES as readonly string[]).includes(s));
  if (unknown.length > 0) {
    throw new BridgeError(
      'invalid_request',
      `invalid query: state: unknown ${unknown.join(', ')} (one of ${CONNECTION_STATES.join(', ')})`,
    );
  }
  return states as ConnectionState[];
}

export interface ConnectionFilter {
  states?: readonly ConnectionState[];
  practiceBase?: string;
  /** As the caller sent it (an app's own userRef). */
  userRef?: string;
}

/**
 * Where the next page starts: the last row returned (the order is createdAt, then id, both
 * descending) and where it stood in the caller's listing, to resume there without a rescan.
 */
interface Cursor {
  createdAt: number;
  id: string;
  position: number;
}

const cursorSchema = z.object({
  t: z.number().int().nonnegative(),
  i: z.string().regex(/^con_[A-Za-z0-9_-]{10,64}$/),
  o: z.number().int().positive(),
});

export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify({ t: c.createdAt, i: c.id, o: c.position })).toString(
    'base64url',
  );
}

export function decodeCursor(text: string): Cursor {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    raw = undefined;
  }
  const parsed = cursorSchema.safeParse(raw);
  if (!parsed.success)
    throw new BridgeError('invalid_request', 'invalid query: cursor: is not a cursor of this list');
  return { createdAt: parsed.data.t, id: parsed.data.i, position: parsed.data.o };
}

/** Strictly after the cursor in the listing's order. */
const comesAfter = (c: ConnectionRecord, cursor: Cursor) =>
  c.createdAt < cursor.createdAt || (c.createdAt === cursor.createdAt && c.id < cursor.id);

const BATCH = 200;

export interface ConnectionPage {
  connections: ConnectionRecord[];
  /** null: this page reached the end of the caller's connections. */
  next: Cursor | null;
}

export async function listConnections(
  store: Pick<Store, 'connections'>,
  caller: Caller,
  options: { limit: number; offset?: number; cursor?: Cursor; filter: ConnectionFilter },
): Promise<ConnectionPage> {
  const { limit, cursor, filter } = options;
  const userRef = filter.userRef === undefined ? undefined : storedUserRef(caller, filter.userRef);
  const matches = (c: ConnectionRecord) =>
    (!filter.states || filter.states.includes(c.state)) &&
    (filter.practiceBase === undefined || c.practiceBase === filter.practiceBase) &&
    (userRef === undefined || c.userRef === userRef);

  let position = options.offset ?? 0;
  if (cursor) {
    // New connections only ever go in front (newest first), which the cursor's own order skips;
    // a deleted one shifts the rest up, so the resume point is trusted only while the row just
    // before it is still the cursor's row.
    const [anchor] = await connectionsOf(store, caller, {
      limit: 1,
      offset: cursor.position - 1,
    });
    position = anchor?.id === cursor.id ? cursor.position : 0;
  }
  const found: ConnectionRecord[] = [];
  for (;;) {
    const batch = await connectionsOf(store, caller, { limit: BATCH, offset: position });
    for (const [k, c] of batch.entries()) {
      if (cursor && !comesAfter(c, cursor)) continue;
      if (!matches(c)) continue;
      found.push(c);
      if (found.length === limit) {
        return {
          connections: found,
          next: { createdAt: c.createdAt, id: c.id, position: position + k + 1 },
        };
      }
    }
    if (batch.length < BATCH) return { connections: found, next: null };
    position += BATCH;
  }
}
