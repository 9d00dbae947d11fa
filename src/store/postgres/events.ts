// The `events` table: the outbox in insertion order (by `seq`).
import { BridgeError } from '../../common/errors.ts';
import type { EventRecord, EventRepository } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, LOCK_KEY, type PostgresDb, type Queryable } from './database.ts';

export const EVENT_COLUMNS: ColumnMap<EventRecord> = {
  id: 'id',
  type: 'type',
  connectionId: 'connection_id',
  data: 'data',
  createdAt: 'created_at',
};

type EventRow = Omit<EventRecord, 'data'> & { data: string };

/**
 * Appends one event inside `client`'s transaction (webhooks.ts appends with it too). Readers
 * page by `seq`, so seq order must be commit order: an identity value is taken at insert, and
 * two writers could commit out of order, letting a webhook cursor pass an event that commits a
 * moment later. The transaction lock makes appends take their seq and commit one at a time.
 */
export async function insertEvent(client: Queryable, event: EventRecord): Promise<void> {
  await client.query(`SELECT pg_advisory_xact_lock(${LOCK_KEY})`, ['events:append']);
  const { sql, args } = insertOf('events', EVENT_COLUMNS, event, {
    data: (v) => JSON.stringify(v),
  });
  await guardWrite('event', () => client.query(sql, args));
}

export function createEventRepository(db: PostgresDb): EventRepository {
  return {
    async append(event) {
      await db.tx((client) => insertEvent(client, event));
    },
    async list({ connectionId, after, limit }) {
      let afterSeq = 0;
      if (after !== undefined) {
        const { rows } = await db.query<{ seq: number }>('SELECT seq FROM events WHERE id = $1', [
          after,
        ]);
        // An unknown cursor would otherwise read as "nothing new" forever.
        if (!rows[0]) {
          throw new BridgeError('invalid_request', 'unknown event cursor', { details: { after } });
        }
        afterSeq = rows[0].seq;
      }
      // Identity values start at 1, so "after 0" is "from the start".
      const { rows } = await db.query<EventRow>(
        `SELECT ${selectList(EVENT_COLUMNS)} FROM events
         WHERE seq > $1 AND ($2::text IS NULL OR connection_id = $2) ORDER BY seq LIMIT $3`,
        [afterSeq, connectionId ?? null, limit],
      );
      return rows.map((row) => ({ ...row, data: JSON.parse(row.data) as Record<string, unknown> }));
    },
  };
}
