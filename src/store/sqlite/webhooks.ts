// The webhook tables: per-endpoint cursors over `events`, the `webhook_deliveries` outbox, and
// `event_once` keys; fan-out and claims are atomic so several dispatchers may share one file.
import type { Database } from 'better-sqlite3';
import type { DeliveryRecord, DeliveryStatus, EventRecord, WebhookRepository } from '../port.ts';
import { guardWrite } from './constraints.ts';
import { createWebhookEndpointRepository } from './webhook-endpoints.ts';

interface DeliveryRow {
  id: string;
  event_id: string;
  event_type: string;
  connection_id: string | null;
  endpoint_id: string;
  url: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: number | null;
  last_attempt_at: number | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: number | null;
  redeliveries: number;
  created_at: number;
  updated_at: number;
}

function toRow(d: DeliveryRecord): DeliveryRow {
  return {
    id: d.id,
    event_id: d.eventId,
    event_type: d.eventType,
    connection_id: d.connectionId,
    endpoint_id: d.endpointId,
    url: d.url,
    payload: d.payload,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.nextAttemptAt,
    last_attempt_at: d.lastAttemptAt,
    last_status: d.lastStatus,
    last_error: d.lastError,
    delivered_at: d.deliveredAt,
    redeliveries: d.redeliveries,
    created_at: d.createdAt,
    updated_at: d.updatedAt,
  };
}

function fromRow(r: DeliveryRow): DeliveryRecord {
  return {
    id: r.id,
    eventId: r.event_id,
    eventType: r.event_type,
    connectionId: r.connection_id,
    endpointId: r.endpoint_id,
    url: r.url,
    payload: r.payload,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastAttemptAt: r.last_attempt_at,
    lastStatus: r.last_status,
    lastError: r.last_error,
    deliveredAt: r.delivered_at,
    redeliveries: r.redeliveries,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

const COLUMNS: readonly (keyof DeliveryRow)[] = [
  'id',
  'event_id',
  'event_type',
  'connection_id',
  'endpoint_id',
  'url',
  'payload',
  'status',
  'attempts',
  'next_attempt_at',
  'last_attempt_at',
  'last_status',
  'last_error',
  'delivered_at',
  'redeliveries',
  'created_at',
  'updated_at',
];

export function createWebhookRepository(db: Database): WebhookRepository {
  const cursorOf = db.prepare<[string], { after_event_id: string | null }>(
    'SELECT after_event_id FROM webhook_cursors WHERE endpoint_id = ?',
  );
  const newestEvent = db.prepare<[], { id: string }>(
    'SELECT id FROM events ORDER BY seq DESC LIMIT 1',
  );
  const insertCursor = db.prepare<[string, string | null, number]>(
    'INSERT INTO webhook_cursors (endpoint_id, after_event_id, updated_at) VALUES (?, ?, ?)',
  );
  const moveCursor = db.prepare<[string, number, string]>(
    'UPDATE webhook_cursors SET after_event_id = ?, updated_at = ? WHERE endpoint_id = ?',
  );
  // A pair already fanned out (another dispatcher, or a replay) is skipped, not an error.
  const insertDelivery = db.prepare<[DeliveryRow]>(
    `INSERT INTO webhook_deliveries (${COLUMNS.join(', ')})
     VALUES (${COLUMNS.map((c) => `@${c}`).join(', ')})
     ON CONFLICT (event_id, endpoint_id) DO NOTHING`,
  );
  const claimDue = db.prepare<[{ now: number; lease_until: number; limit: number }], DeliveryRow>(
    `UPDATE webhook_deliveries SET next_attempt_at = @lease_until, updated_at = @now
     WHERE id IN (
       SELECT id FROM webhook_deliveries
       WHERE status = 'pending' AND next_attempt_at <= @now
       ORDER BY next_attempt_at, created_at
       LIMIT @limit)
     RETURNING *`,
  );
  const recordAttempt = db.prepare<
    [
      {
        id: string;
        status: DeliveryStatus;
        at: number;
        http_status: number | null;
        error: string | null;
        next_attempt_at: number | null;
      },
    ]
  >(
    `UPDATE webhook_deliveries SET status = @status, attempts = attempts + 1,
       last_attempt_at = @at, last_status = @http_status, last_error = @error,
       next_attempt_at = @next_attempt_at,
       delivered_at = CASE WHEN @status = 'delivered' THEN @at ELSE delivered_at END,
       updated_at = @at
     WHERE id = @id`,
  );
  const redeliver = db.prepare<[{ id: string; now: number }]>(
    `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = @now,
       redeliveries = redeliveries + 1, updated_at = @now
     WHERE id = @id`,
  );
  const get = db.prepare<[string], DeliveryRow>('SELECT * FROM webhook_deliveries WHERE id = ?');
  const list = db.prepare<
    [
      {
        status: string | null;
        event_type: string | null;
        connection_id: string | null;
        limit: number;
        offset: number;
      },
    ],
    DeliveryRow
  >(
    `SELECT * FROM webhook_deliveries
     WHERE (@status IS NULL OR status = @status)
       AND (@event_type IS NULL OR event_type = @event_type)
       AND (@connection_id IS NULL OR connection_id = @connection_id)
     ORDER BY created_at DESC, rowid DESC
     LIMIT @limit OFFSET @offset`,
  );
  const claimOnce = db.prepare<[string, string, number]>(
    'INSERT INTO event_once (key, event_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  const appendEvent = db.prepare<[string, string, string | null, string, number]>(
    'INSERT INTO events (id, type, connection_id, data, created_at) VALUES (?, ?, ?, ?, ?)',
  );

  const cursor = db.transaction((endpointId: string, now: number) => {
    const row = cursorOf.get(endpointId);
    if (row) return row.after_event_id;
    const start = newestEvent.get()?.id ?? null;
    insertCursor.run(endpointId, start, now);
    return start;
  });

  const fanOut = db.transaction(
    (
      endpointId: string,
      from: string | null,
      to: string,
      deliveries: readonly DeliveryRecord[],
      now: number,
    ) => {
      const row = cursorOf.get(endpointId);
      if (!row || row.after_event_id !== from) return false;
      for (const delivery of deliveries) {
        guardWrite('webhook delivery', () => insertDelivery.run(toRow(delivery)));
      }
      moveCursor.run(to, now, endpointId);
      return true;
    },
  );

  const appendOnce = db.transaction((onceKey: string, event: EventRecord) => {
    if (claimOnce.run(onceKey, event.id, event.createdAt).changes === 0) return false;
    guardWrite('event', () =>
      appendEvent.run(
        event.id,
        event.type,
        event.connectionId,
        JSON.stringify(event.data),
        event.createdAt,
      ),
    );
    return true;
  });

  return {
    endpoints: createWebhookEndpointRepository(db),
    async cursor(endpointId, now) {
      return cursor.immediate(endpointId, now);
    },
    async fanOut(endpointId, from, to, deliveries, now) {
      return fanOut.immediate(endpointId, from, to, deliveries, now);
    },
    async claimDue(now, leaseUntil, limit) {
      const rows = claimDue.all({ now, lease_until: leaseUntil, limit });
      // RETURNING gives no order: oldest first, as chosen.
      return rows
        .map(fromRow)
        .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
    },
    async recordAttempt(id, outcome) {
      recordAttempt.run({
        id,
        status:
          outcome.kind === 'delivered'
            ? 'delivered'
            : outcome.kind === 'retry'
              ? 'pending'
              : 'dead',
        at: outcome.at,
        http_status: outcome.status,
        error: outcome.kind === 'delivered' ? null : outcome.error,
        next_attempt_at: outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
      });
      const row = get.get(id);
      return row && fromRow(row);
    },
    async redeliver(id, now) {
      if (redeliver.run({ id, now }).changes === 0) return undefined;
      return fromRow(get.get(id)!);
    },
    async get(id) {
      const row = get.get(id);
      return row && fromRow(row);
    },
    async list({ status, eventType, connectionId, limit, offset = 0 }) {
      return list
        .all({
          status: status ?? null,
          event_type: eventType ?? null,
          connection_id: connectionId ?? null,
          limit,
          offset,
        })
        .map(fromRow);
    },
    async appendEventOnce(onceKey, event) {
      return appendOnce.immediate(onceKey, event);
    },
  };
}
