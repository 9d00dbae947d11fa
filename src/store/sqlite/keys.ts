// The `keys` table: signing keys of each keyring, and their row <-> StoredKey mapping.
import type { Database } from 'better-sqlite3';
import type { KeyRepository, KeyStatus, StoredKey } from '../port.ts';
import { guardWrite } from './constraints.ts';

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

export function createKeyRepository(db: Database): KeyRepository {
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
  };
}
