// The `webhook_endpoints` table on SQLite: endpoints made over the API, secrets sealed.
import type { Database } from 'better-sqlite3';
import type { WebhookEndpointRecord, WebhookEndpointRepository } from '../port.ts';
import { guardWrite } from './constraints.ts';

interface EndpointRow {
  id: string;
  url: string;
  description: string | null;
  events: string | null;
  sealed_secret: string;
  created_at: number;
  updated_at: number;
}

const fromRow = (r: EndpointRow): WebhookEndpointRecord => ({
  id: r.id,
  url: r.url,
  description: r.description,
  events: r.events === null ? null : (JSON.parse(r.events) as string[]),
  sealedSecret: r.sealed_secret,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const toRow = (e: WebhookEndpointRecord): EndpointRow => ({
  id: e.id,
  url: e.url,
  description: e.description,
  events: e.events === null ? null : JSON.stringify(e.events),
  sealed_secret: e.sealedSecret,
  created_at: e.createdAt,
  updated_at: e.updatedAt,
});

export function createWebhookEndpointRepository(db: Database): WebhookEndpointRepository {
  const insert = db.prepare<[EndpointRow]>(
    `INSERT INTO webhook_endpoints (id, url, description, events, sealed_secret, created_at, updated_at)
     VALUES (@id, @url, @description, @events, @sealed_secret, @created_at, @updated_at)`,
  );
  const get = db.prepare<[string], EndpointRow>('SELECT * FROM webhook_endpoints WHERE id = ?');
  const list = db.prepare<[], EndpointRow>(
    'SELECT * FROM webhook_endpoints ORDER BY created_at, rowid',
  );
  const save = db.prepare<[EndpointRow]>(
    `UPDATE webhook_endpoints SET url = @url, description = @description, events = @events,
       updated_at = @updated_at WHERE id = @id`,
  );
  const remove = db.prepare<[string]>('DELETE FROM webhook_endpoints WHERE id = ?');

  // Read and write in one transaction, so two updates of different fields both land.
  const update = db.transaction(
    (id: string, changes: Parameters<WebhookEndpointRepository['update']>[1]) => {
      const row = get.get(id);
      if (!row) return undefined;
      const next = toRow({ ...fromRow(row), ...changes });
      save.run(next);
      return fromRow(next);
    },
  );

  return {
    async insert(endpoint) {
      guardWrite('webhook endpoint', () => insert.run(toRow(endpoint)));
    },
    async get(id) {
      const row = get.get(id);
      return row ? fromRow(row) : undefined;
    },
    async list() {
      return list.all().map(fromRow);
    },
    async update(id, changes) {
      return update(id, changes);
    },
    async delete(id) {
      return remove.run(id).changes > 0;
    },
  };
}
