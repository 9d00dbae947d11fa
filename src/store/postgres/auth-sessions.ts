// The `auth_sessions` table: pending authorize round trips keyed by state hash, taken once.
import type { AuthSession, AuthSessionRepository } from '../port.ts';
import { type ColumnMap, insertOf, selectList } from './columns.ts';
import { guardWrite, type PostgresDb } from './database.ts';

const COLUMNS: ColumnMap<AuthSession> = {
  stateHash: 'state_hash',
  connectionId: 'connection_id',
  sealedVerifier: 'sealed_verifier',
  nonce: 'nonce',
  redirectUri: 'redirect_uri',
  returnTo: 'return_to',
  browserHash: 'browser_hash',
  createdAt: 'created_at',
  expiresAt: 'expires_at',
};

export function createAuthSessionRepository(db: PostgresDb): AuthSessionRepository {
  const count = async (sql: string, args: unknown[]) =>
    (await db.query<{ n: number }>(sql, args)).rows[0]?.n ?? 0;

  return {
    async put(session) {
      // A state value is fresh randomness: a second put with the same hash is a bug, and
      // replacing the first would hijack its round trip, so it is a conflict, not an upsert.
      const { sql, args } = insertOf('auth_sessions', COLUMNS, session);
      await guardWrite('auth session', () => db.query(sql, args));
    },
    async get(stateHash) {
      const { rows } = await db.query<AuthSession>(
        `SELECT ${selectList(COLUMNS)} FROM auth_sessions WHERE state_hash = $1`,
        [stateHash],
      );
      return rows[0];
    },
    async bindBrowser(stateHash, browserHash) {
      // First browser wins: a second browser (a forwarded or leaked link) cannot rebind it.
      const { rowCount } = await db.query(
        'UPDATE auth_sessions SET browser_hash = $1 WHERE state_hash = $2 AND browser_hash IS NULL',
        [browserHash, stateHash],
      );
      return (rowCount ?? 0) > 0;
    },
    async take(stateHash) {
      // Delete-and-return in one statement: of two callbacks racing with one state, one gets
      // it (RFC 6749 §10.12, the state binds exactly one authorization response).
      const { rows } = await db.query<AuthSession>(
        `DELETE FROM auth_sessions WHERE state_hash = $1 RETURNING ${selectList(COLUMNS)}`,
        [stateHash],
      );
      return rows[0];
    },
    async purgeExpired(now) {
      const { rowCount } = await db.query('DELETE FROM auth_sessions WHERE expires_at < $1', [now]);
      return rowCount ?? 0;
    },
    countLive: (now, userRefPrefix) =>
      count(
        `SELECT count(*)::int AS n FROM auth_sessions s JOIN connections c ON c.id = s.connection_id
         WHERE s.expires_at > $1 AND starts_with(c.user_ref, $2)`,
        [now, userRefPrefix],
      ),
    countPendingConnections: (userRefPrefix) =>
      count(
        `SELECT count(*)::int AS n FROM connections
         WHERE connected_at IS NULL AND starts_with(user_ref, $1)`,
        [userRefPrefix],
      ),
    purgeAbandoned: ({ now, pendingBefore, userRefPrefix }) =>
      db.tx(async (client) => {
        const sessions = await client.query('DELETE FROM auth_sessions WHERE expires_at <= $1', [
          now,
        ]);
        // A connection that never connected never held tokens or records: forgetting it
        // loses nothing but the row (and a declined one's outcome, already told by its event).
        const connections = await client.query(
          `DELETE FROM connections
           WHERE connected_at IS NULL AND created_at < $1 AND starts_with(user_ref, $2)
             AND NOT EXISTS (SELECT 1 FROM auth_sessions s
                             WHERE s.connection_id = connections.id AND s.expires_at > $3)`,
          [pendingBefore, userRefPrefix, now],
        );
        return { sessions: sessions.rowCount ?? 0, connections: connections.rowCount ?? 0 };
      }),
  };
}
