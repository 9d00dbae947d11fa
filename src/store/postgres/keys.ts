// The `keys` table: signing keys of each keyring, and the keyring lock that serializes key
// changes across every process on the store.
import type { KeyRepository, StoredKey } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, LOCK_KEY, type PostgresDb } from './database.ts';

const COLUMNS: ColumnMap<StoredKey> = {
  kid: 'kid',
  keyring: 'keyring',
  status: 'status',
  publicJwk: 'public_jwk',
  sealedPrivateKey: 'sealed_private_key',
  createdAt: 'created_at',
  activatesAt: 'activates_at',
  removeAt: 'remove_at',
};

type KeyRow = Omit<StoredKey, 'publicJwk'> & { publicJwk: string };

const fromRow = (row: KeyRow): StoredKey => ({
  ...row,
  publicJwk: JSON.parse(row.publicJwk) as Record<string, unknown>,
});

export function createKeyRepository(db: PostgresDb): KeyRepository {
  return {
    async list(keyring) {
      const { rows } = await db.query<KeyRow>(
        `SELECT ${selectList(COLUMNS)} FROM keys WHERE keyring = $1 ORDER BY created_at, kid`,
        [keyring],
      );
      return rows.map(fromRow);
    },
    async put(key) {
      const insert = insertOf('keys', COLUMNS, key, { publicJwk: (v) => JSON.stringify(v) });
      const updates = Object.values(COLUMNS)
        .filter((c) => c !== 'kid')
        .map((c) => `${c} = excluded.${c}`)
        .join(', ');
      await guardWrite('key', () =>
        db.query(`${insert.sql} ON CONFLICT (kid) DO UPDATE SET ${updates}`, insert.args),
      );
    },
    async delete(kid) {
      await db.query('DELETE FROM keys WHERE kid = $1', [kid]);
    },
    async exclusive(keyring, task) {
      // A session advisory lock held on one client for the whole task: a rotation in another
      // process waits here, then reads the keyring this one left. The lock goes with the
      // session, so a process that dies mid-task releases it.
      return db.session(async (client) => {
        await client.query(`SELECT pg_advisory_lock(${LOCK_KEY})`, [`keyring:${keyring}`]);
        try {
          return await task();
        } finally {
          // Should the unlock fail, the error closes this session, which releases the lock.
          await client.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`, [`keyring:${keyring}`]);
        }
      });
    },
  };
}
