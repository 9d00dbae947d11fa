// The `auth_sessions` table: pending authorize round trips keyed by state hash, taken once,
// and the row <-> AuthSession mapping.
import type { Database } from 'better-sqlite3';
import type { AuthSession, AuthSessionRepository } from '../port.ts';
import { guardWrite } from './constraints.ts';

interface AuthSessionRow {
  state_hash: string;
  connection_id: string;
  sealed_verifier: string;
  nonce: string;
  redirect_uri: string;
  return_to: string | null;
  browser_hash: string | null;
  created_at: number;
  expires_at: number;
}

function toRow(session: AuthSession): AuthSessionRow {
  return {
    state_hash: session.stateHash,
    connection_id: session.connectionId,
    sealed_verifier: session.sealedVerifier,
    nonce: session.nonce,
    redirect_uri: session.redirectUri,
    return_to: session.returnTo,
    browser_hash: session.browserHash,
    created_at: session.createdAt,
    expires_at: session.expiresAt,
  };
}

function fromRow(row: AuthSessionRow): AuthSession {
  return {
    stateHash: row.state_hash,
    connectionId: row.connection_id,
    sealedVerifier: row.sealed_verifier,
    nonce: row.nonce,
    redirectUri: row.redirect_uri,
    returnTo: row.return_to,
    browserHash: row.browser_hash,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}

export function createAuthSessionRepository(db: Database): AuthSessionRepository {
  const put = db.prepare<[AuthSessionRow]>(
    `INSERT INTO auth_sessions (state_hash, connection_id, sealed_verifier, nonce, redirect_uri,
       return_to, browser_hash, created_at, expires_at)
     VALUES (@state_hash, @connection_id, @sealed_verifier, @nonce, @redirect_uri,
       @return_to, @browser_hash, @created_at, @expires_at)`,
  );
  // Delete-and-return in one statement: of two callbacks racing with one state, one gets it
  // (RFC 6749 §10.12, the state binds exactly one authorization response).
  const take = db.prepare<[string], AuthSessionRow>(
    'DELETE FROM auth_sessions WHERE state_hash = ? RETURNING *',
  );
  const get = db.prepare<[string], AuthSessionRow>(
    'SELECT * FROM auth_sessions WHERE state_hash = ?',
  );
  // First browser wins: the launch link binds to the browser that opens it, and a second
  // browser (a forwarded or leaked link) cannot rebind it.
  const bindBrowser = db.prepare<[string, string]>(
    'UPDATE auth_sessions SET browser_hash = ? WHERE state_hash = ? AND browser_hash IS NULL',
  );
  const purgeExpired = db.prepare<[number]>('DELETE FROM auth_sessions WHERE expires_at < ?');
  // The prefix is matched with substr, not LIKE: a userRef may hold `%` or `_`.
  const countLive = db.prepare<[number, string, string], { n: number }>(
    `SELECT COUNT(*) AS n FROM auth_sessions s JOIN connections c ON c.id = s.connection_id
     WHERE s.expires_at > ? AND substr(c.user_ref, 1, length(?)) = ?`,
  );
  const countPending = db.prepare<[string, string], { n: number }>(
    `SELECT COUNT(*) AS n FROM connections
     WHERE connected_at IS NULL AND substr(user_ref, 1, length(?)) = ?`,
  );
  const purgeSessions = db.prepare<[number]>('DELETE FROM auth_sessions WHERE expires_at <= ?');
  // A connection that never connected never held tokens or records: forgetting it loses
  // nothing but the row (and a declined one's outcome, already told by its event).
  const purgePending = db.prepare<[number, string, string, number]>(
    `DELETE FROM connections
     WHERE connected_at IS NULL AND created_at < ?
       AND substr(user_ref, 1, length(?)) = ?
       AND NOT EXISTS (SELECT 1 FROM auth_sessions s
                       WHERE s.connection_id = connections.id AND s.expires_at > ?)`,
  );
  const purgeAbandoned = db.transaction((now: number, pendingBefore: number, prefix: string) => ({
    sessions: purgeSessions.run(now).changes,
    connections: purgePending.run(pendingBefore, prefix, prefix, now).changes,
  }));

  return {
    async put(session) {
      // A state value is fresh randomness: a second put with the same hash is a bug, and
      // replacing the first would hijack its round trip, so it is a conflict, not an upsert.
      guardWrite('auth session', () => put.run(toRow(session)));
    },
    async get(stateHash) {
      const row = get.get(stateHash);
      return row && fromRow(row);
    },
    async bindBrowser(stateHash, browserHash) {
      return bindBrowser.run(browserHash, stateHash).changes > 0;
    },
    async take(stateHash) {
      const row = take.get(stateHash);
      return row && fromRow(row);
    },
    async purgeExpired(now) {
      return purgeExpired.run(now).changes;
    },
    async countLive(now, userRefPrefix) {
      return countLive.get(now, userRefPrefix, userRefPrefix)?.n ?? 0;
    },
    async countPendingConnections(userRefPrefix) {
      return countPending.get(userRefPrefix, userRefPrefix)?.n ?? 0;
    },
    async purgeAbandoned({ now, pendingBefore, userRefPrefix }) {
      return purgeAbandoned(now, pendingBefore, userRefPrefix);
    },
  };
}
