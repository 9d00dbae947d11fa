// The `api_keys` table: the app backends' API keys (hashes only), and the row <-> record mapping.
import type { Database } from 'better-sqlite3';
import type { ApiKeyRecord, ApiKeyRepository, ApiKeyRole } from '../port.ts';
import { guardWrite } from './constraints.ts';

interface ApiKeyRow {
  id: string;
  name: string;
  role: ApiKeyRole;
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
}

function toRow(record: ApiKeyRecord): ApiKeyRow {
  return {
    id: record.id,
    name: record.name,
    role: record.role,
    hash: record.hash,
    created_at: record.createdAt,
    last_used_at: record.lastUsedAt,
    revoked_at: record.revokedAt,
  };
}

function fromRow(row: ApiKeyRow): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    hash: row.hash,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

export function createApiKeyRepository(db: Database): ApiKeyRepository {
  const insert = db.prepare<[ApiKeyRow]>(
    `INSERT INTO api_keys (id, name, role, hash, created_at, last_used_at, revoked_at)
     VALUES (@id, @name, @role, @hash, @created_at, @last_used_at, @revoked_at)`,
  );
  const findByHash = db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE hash = ?');
  const list = db.prepare<[], ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id');
  const touch = db.prepare<[number, string]>('UPDATE api_keys SET last_used_at = ? WHERE id = ?');
  // Only a live key is revoked: the first revocation time stays the one on record.
  const revoke = db.prepare<[number, string]>(
    'UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL',
  );

  return {
    async insert(record) {
      guardWrite('API key', () => insert.run(toRow(record)));
    },
    async findByHash(hash) {
      const row = findByHash.get(hash);
      return row && fromRow(row);
    },
    async list() {
      return list.all().map(fromRow);
    },
    async touch(id, at) {
      touch.run(at, id);
    },
    async revoke(id, at) {
      return revoke.run(at, id).changes > 0;
    },
  };
}
