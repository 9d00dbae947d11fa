// The `events` table: the outbox in insertion order (by `seq`), and the row <-> record mapping.
import type { Database } from 'better-sqlite3';
import { BridgeError } from '../../common/errors.ts';
import type { EventRecord, EventRepository } from '../port.ts';
import { guardWrite } from './constraints.ts';

interface EventRow {
  id: string;
  type: string;
  connection_id: string | null;
  data: string;
  created_at: number;
}

function toRow(event: EventRecord): EventRow {
  return {
    id: event.id,
    type: event.type,
    connection_id: event.connectionId,
    data: JSON.stringify(event.data),
    created_at: event.createdAt,
  };
}

function fromRow(row: EventRow): EventRecord {
  return {
    id: row.id,
    type: row.type,
    connectionId: row.connection_id,
    data: JSON.parse(row.data) as Record<string, unknown>,
    createdAt: row.created_at,
  };
}

const COLUMNS = 'id, type, connection_id, data, created_at';

export function createEventRepository(db: Database): EventRepository {
  const append = db.prepare<[EventRow]>(
    `INSERT INTO events (${COLUMNS}) VALUES (@id, @type, @connection_id, @data, @created_at)`,
  );
  const seqOf = db.prepare<[string], { seq: number }>('SELECT seq FROM events WHERE id = ?');
  // `seq` starts at 1, so "after 0" is "from the start".
  const listAll = db.prepare<[number, number], EventRow>(
    `SELECT ${COLUMNS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`,
  );
  const listByConnection = db.prepare<[string, number, number], EventRow>(
    `SELECT ${COLUMNS} FROM events WHERE connection_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
  );

  return {
    async append(event) {
      guardWrite('event', () => append.run(toRow(event)));
    },
    async list({ connectionId, after, limit }) {
      let afterSeq = 0;
      if (after !== undefined) {
        const cursor = seqOf.get(after);
        // An unknown cursor would otherwise read as "nothing new" forever.
        if (!cursor) {
          throw new BridgeError('invalid_request', 'unknown event cursor', {
            details: { after },
          });
        }
        afterSeq = cursor.seq;
      }
      const rows =
        connectionId === undefined
          ? listAll.all(afterSeq, limit)
          : listByConnection.all(connectionId, afterSeq, limit);
      return rows.map(fromRow);
    },
  };
}
