// The webhook tables: per-endpoint cursors over `events`, the `webhook_deliveries` outbox, and
// `event_once` keys. The fan-out locks its cursor row and claims skip locked rows, so several
// dispatchers may share one database.
import type { DeliveryRecord, WebhookRepository } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, type PostgresDb } from './database.ts';
import { insertEvent } from './events.ts';
import { createWebhookEndpointRepository } from './webhook-endpoints.ts';

const COLUMNS: ColumnMap<DeliveryRecord> = {
  id: 'id',
  eventId: 'event_id',
  eventType: 'event_type',
  connectionId: 'connection_id',
  endpointId: 'endpoint_id',
  url: 'url',
  payload: 'payload',
  status: 'status',
  attempts: 'attempts',
  nextAttemptAt: 'next_attempt_at',
  lastAttemptAt: 'last_attempt_at',
  lastStatus: 'last_status',
  lastError: 'last_error',
  deliveredAt: 'delivered_at',
  redeliveries: 'redeliveries',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

const RETURNING = selectList(COLUMNS);
const SELECT = `SELECT ${RETURNING} FROM webhook_deliveries`;

export function createWebhookRepository(db: PostgresDb): WebhookRepository {
  const get = async (id: string) =>
    (await db.query<DeliveryRecord>(`${SELECT} WHERE id = $1`, [id])).rows[0];

  return {
    endpoints: createWebhookEndpointRepository(db),
    async cursor(endpointId, now) {
      // A new endpoint starts after the newest event; of two dispatchers creating it, the
      // first insert wins and both read its value.
      await db.query(
        `INSERT INTO webhook_cursors (endpoint_id, after_event_id, updated_at)
         VALUES ($1, (SELECT id FROM events ORDER BY seq DESC LIMIT 1), $2)
         ON CONFLICT (endpoint_id) DO NOTHING`,
        [endpointId, now],
      );
      const { rows } = await db.query<{ after: string | null }>(
        'SELECT after_event_id AS after FROM webhook_cursors WHERE endpoint_id = $1',
        [endpointId],
      );
      return rows[0]?.after ?? null;
    },

    fanOut: (endpointId, from, to, deliveries, now) =>
      db.tx(async (client) => {
        const { rows } = await client.query<{ after: string | null }>(
          'SELECT after_event_id AS after FROM webhook_cursors WHERE endpoint_id = $1 FOR UPDATE',
          [endpointId],
        );
        if (!rows[0] || rows[0].after !== from) return false;
        for (const delivery of deliveries) {
          const { sql, args } = insertOf('webhook_deliveries', COLUMNS, delivery);
          // A pair already fanned out (another dispatcher, or a replay) is skipped, not an error.
          await guardWrite('webhook delivery', () =>
            client.query(`${sql} ON CONFLICT (event_id, endpoint_id) DO NOTHING`, args),
          );
        }
        await client.query(
          'UPDATE webhook_cursors SET after_event_id = $1, updated_at = $2 WHERE endpoint_id = $3',
          [to, now, endpointId],
        );
        return true;
      }),

    async claimDue(now, leaseUntil, limit) {
      const { rows } = await db.query<DeliveryRecord>(
        `UPDATE webhook_deliveries SET next_attempt_at = $2, updated_at = $1
         WHERE id IN (
           SELECT id FROM webhook_deliveries
           WHERE status = 'pending' AND next_attempt_at <= $1
           ORDER BY next_attempt_at, created_at
           LIMIT $3
           FOR UPDATE SKIP LOCKED)
         RETURNING ${RETURNING}`,
        [now, leaseUntil, limit],
      );
      // RETURNING gives no order: oldest first, as chosen.
      return rows.sort(
        (a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      );
    },

    async recordAttempt(id, outcome) {
      const status =
        outcome.kind === 'delivered' ? 'delivered' : outcome.kind === 'retry' ? 'pending' : 'dead';
      const { rows } = await db.query<DeliveryRecord>(
        `UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1,
           last_attempt_at = $3, last_status = $4, last_error = $5, next_attempt_at = $6,
           delivered_at = CASE WHEN $2 = 'delivered' THEN $3 ELSE delivered_at END,
           updated_at = $3
         WHERE id = $1 RETURNING ${RETURNING}`,
        [
          id,
          status,
          outcome.at,
          outcome.status,
          outcome.kind === 'delivered' ? null : outcome.error,
          outcome.kind === 'retry' ? outcome.nextAttemptAt : null,
        ],
      );
      return rows[0];
    },

    async redeliver(id, now) {
      const { rows } = await db.query<DeliveryRecord>(
        `UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $2,
           redeliveries = redeliveries + 1, updated_at = $2
         WHERE id = $1 RETURNING ${RETURNING}`,
        [id, now],
      );
      return rows[0];
    },

    get,

    async list({ status, eventType, connectionId, limit, offset = 0 }) {
      const { rows } = await db.query<DeliveryRecord>(
        `${SELECT}
         WHERE ($1::text IS NULL OR status = $1)
           AND ($2::text IS NULL OR event_type = $2)
           AND ($3::text IS NULL OR connection_id = $3)
         ORDER BY created_at DESC, seq DESC
         LIMIT $4 OFFSET $5`,
        [status ?? null, eventType ?? null, connectionId ?? null, limit, offset],
      );
      return rows;
    },

    appendEventOnce: (onceKey, event) =>
      db.tx(async (client) => {
        const claimed = await client.query(
          'INSERT INTO event_once (key, event_id, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
          [onceKey, event.id, event.createdAt],
        );
        if ((claimed.rowCount ?? 0) === 0) return false;
        await insertEvent(client, event);
        return true;
      }),
  };
}
