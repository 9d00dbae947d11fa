// The `webhook_endpoints` table on PostgreSQL: endpoints made over the API, secrets sealed.
import type { WebhookEndpointRecord, WebhookEndpointRepository } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, type PostgresDb } from './database.ts';

const COLUMNS: ColumnMap<WebhookEndpointRecord> = {
  id: 'id',
  url: 'url',
  description: 'description',
  events: 'events',
  sealedSecret: 'sealed_secret',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
};

const SELECT = `SELECT ${selectList(COLUMNS)} FROM webhook_endpoints`;

type EndpointRow = Omit<WebhookEndpointRecord, 'events'> & { events: string | null };

const fromRow = (row: EndpointRow): WebhookEndpointRecord => ({
  ...row,
  events: row.events === null ? null : (JSON.parse(row.events) as string[]),
});

const encodeEvents = (events: string[] | null) => (events === null ? null : JSON.stringify(events));

export function createWebhookEndpointRepository(db: PostgresDb): WebhookEndpointRepository {
  return {
    async insert(endpoint) {
      const { sql, args } = insertOf('webhook_endpoints', COLUMNS, endpoint, {
        events: encodeEvents,
      });
      await guardWrite('webhook endpoint', () => db.query(sql, args));
    },
    async get(id) {
      const row = (await db.query<EndpointRow>(`${SELECT} WHERE id = $1`, [id])).rows[0];
      return row ? fromRow(row) : undefined;
    },
    async list() {
      const { rows } = await db.query<EndpointRow>(`${SELECT} ORDER BY created_at, seq`);
      return rows.map(fromRow);
    },
    async update(id, changes) {
      // One statement: fields not given keep their value, so concurrent updates of different
      // fields both land.
      const { rows } = await db.query<EndpointRow>(
        `UPDATE webhook_endpoints SET
           url = CASE WHEN $2 THEN $3 ELSE url END,
           description = CASE WHEN $4 THEN $5 ELSE description END,
           events = CASE WHEN $6 THEN $7 ELSE events END,
           updated_at = $8
         WHERE id = $1
         RETURNING ${selectList(COLUMNS)}`,
        [
          id,
          changes.url !== undefined,
          changes.url ?? null,
          changes.description !== undefined,
          changes.description ?? null,
          changes.events !== undefined,
          changes.events === undefined ? null : encodeEvents(changes.events),
          changes.updatedAt,
        ],
      );
      return rows[0] ? fromRow(rows[0]) : undefined;
    },
    async delete(id) {
      const { rowCount } = await db.query('DELETE FROM webhook_endpoints WHERE id = $1', [id]);
      return (rowCount ?? 0) > 0;
    },
  };
}
