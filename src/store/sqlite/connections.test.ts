// The connection-state migration on a database that already holds connections: every row keeps
// its state, nothing that references a connection is lost, and the new states are accepted.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.ts';
import { openDatabase } from './database.ts';
import { openSqliteStore } from './index.ts';
import { DEFAULT_MIGRATIONS_DIR, loadMigrations } from './migrate.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-connections-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('upgrading to the new connection states keeps every state and every auth session', async () => {
  const before = join(root, 'before');
  cpSync(DEFAULT_MIGRATIONS_DIR, before, {
    recursive: true,
    filter: (src) => !/\/0(0[7-9]|[1-9]\d)_[^/]*\.sql$/.test(src),
  });
  expect(loadMigrations(before).at(-1)?.version).toBe(6);
  const path = join(root, 'store.db');
  const clock = new ManualClock();
  const db = openDatabase({ path, migrationsDir: before, clock });
  const insert = db.prepare(
    `INSERT INTO connections (id, registration, practice_base, user_ref, state, granted_scopes,
       token_version, created_at, updated_at) VALUES (?, 'r', 'https://ehr.example', ?, ?, '[]', 1, 1, 1)`,
  );
  const states = ['pending', 'active', 'expired', 'revoked', 'error'];
  for (const [i, state] of states.entries()) insert.run(`con_${state}`, `u${i}`, state);
  db.prepare(
    `INSERT INTO auth_sessions (state_hash, connection_id, sealed_verifier, nonce, redirect_uri,
       created_at, expires_at) VALUES ('h1', 'con_pending', 'v', 'n', 'https://b/cb', 1, 2)`,
  ).run();
  db.close();

  const store = await openSqliteStore({ path, clock });
  try {
    for (const state of states) {
      expect((await store.connections.get(`con_${state}`))?.state).toBe(state);
    }
    expect(await store.authSessions.get('h1')).toMatchObject({ connectionId: 'con_pending' });
    expect(await store.connections.get('con_active')).toMatchObject({
      accessIssuedAt: null,
      refreshAttemptAt: null,
      sealedRefreshAnswer: null,
    });
    for (const state of ['declined', 'reauthorization_required'] as const) {
      expect(await store.connections.update('con_active', { state })).toBe(true);
      expect((await store.connections.get('con_active'))?.state).toBe(state);
    }
    // Still only the states the port knows.
    await expect(
      store.connections.update('con_active', { state: 'gone' as 'revoked' }),
    ).rejects.toThrow(/CHECK constraint/);
  } finally {
    await store.close();
  }
});
