// The `keys` table: signing keys of each keyring, and their row <-> StoredKey mapping.
import type { Database } from 'better-sqlite3';
import type { KeyRepository, KeyStatus, StoredKey } from '../port.ts';
import { guardWrite } from './constraints.ts';
import type { FileLock } from './file-lock.ts';

interface KeyRow {
  kid: string;
  keyring: string;
  status: KeyStatus;
  public_jwk: string;
  sealed_private_key: string;
  created_at: number;
  activates_at: number | null;
  remove_at: number | null;
}

function toRow(key: StoredKey): KeyRow {
  return {
    kid: key.kid,
    keyring: key.keyring,
    status: key.status,
    public_jwk: JSON.stringify(key.publicJwk),
    sealed_private_key: key.sealedPrivateKey,
    created_at: key.createdAt,
    activates_at: key.activatesAt,
    remove_at: key.removeAt,
  };
}

function fromRow(row: KeyRow): StoredKey {
  return {
    kid: row.kid,
    keyring: row.keyring,
    status: row.status,
    publicJwk: JSON.parse(row.public_jwk) as Record<string, unknown>,
    sealedPrivateKey: row.sealed_private_key,
    createdAt: row.created_at,
    activatesAt: row.activates_at,
    removeAt: row.remove_at,
  };
}

/**
 * `lock`: shared by every process on the store's file, so that two processes never both make a
 * keyring's first active key, nor both add a next one; without it (an in-memory store, one
 * process) the key service serializes within its process only.
 */
export function createKeyRepository(db: Database, lock?: FileLock): KeyRepository {
  const list = db.prepare<[string], KeyRow>(
    'SELECT * FROM keys WHERE keyring = ? ORDER BY created_at, kid',
  );
  const put = db.prepare<[KeyRow]>(
    `INSERT INTO keys (kid, keyring, status, public_jwk, sealed_private_key, created_at,
       activates_at, remove_at)
     VALUES (@kid, @keyring, @status, @public_jwk, @sealed_private_key, @created_at,
       @activates_at, @remove_at)
     ON CONFLICT (kid) DO UPDATE SET
       keyring = excluded.keyring,
       status = excluded.status,
       public_jwk = excluded.public_jwk,
       sealed_private_key = excluded.sealed_private_key,
       created_at = excluded.created_at,
       activates_at = excluded.activates_at,
       remove_at = excluded.remove_at`,
  );
  const remove = db.prepare<[string]>('DELETE FROM keys WHERE kid = ?');

  return {
    async list(keyring) {
      return list.all(keyring).map(fromRow);
    },
    async put(key) {
      guardWrite('key', () => put.run(toRow(key)));
    },
    async delete(kid) {
      remove.run(kid);
    },
    // One lock for every keyring: rotations are rare, and a keyring's task takes a second at most.
    ...(lock ? { exclusive: (_keyring, task) => lock.run(task) } : {}),
  };
}
