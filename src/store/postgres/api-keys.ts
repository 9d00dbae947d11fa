// The `api_keys` table: the app backends' API keys (hashes only).
import type { ApiKeyRecord, ApiKeyRepository } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, type PostgresDb } from './database.ts';

const COLUMNS: ColumnMap<ApiKeyRecord> = {
  id: 'id',
  name: 'name',
  role: 'role',
  hash: 'hash',
  createdAt: 'created_at',
  lastUsedAt: 'last_used_at',
  revokedAt: 'revoked_at',
};

const SELECT = `SELECT ${selectList(COLUMNS)} FROM api_keys`;

export function createApiKeyRepository(db: PostgresDb): ApiKeyRepository {
  return {
    async insert(record) {
      const { sql, args } = insertOf('api_keys', COLUMNS, record);
      await guardWrite('API key', () => db.query(sql, args));
    },
    async findByHash(hash) {
      return (await db.query<ApiKeyRecord>(`${SELECT} WHERE hash = $1`, [hash])).rows[0];
    },
    async list() {
      return (await db.query<ApiKeyRecord>(`${SELECT} ORDER BY created_at, id`)).rows;
    },
    async touch(id, at) {
      await db.query('UPDATE api_keys SET last_used_at = $1 WHERE id = $2', [at, id]);
    },
    async revoke(id, at) {
      // Only a live key is revoked: the first revocation time stays the one on record.
      const { rowCount } = await db.query(
        'UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL',
        [at, id],
      );
      return (rowCount ?? 0) > 0;
    },
  };
}
