// The sign-in bookkeeping of the auth-session table: live sessions and never-connected
// connections counted per userRef prefix, and abandoned ones forgotten.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuthSession, Store } from '../port.ts';
import { connection, pendingConnection } from '../store.contract.ts';
import { openSqliteStore } from './index.ts';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

let store: Store;
beforeEach(async () => {
  store = await openSqliteStore({ path: ':memory:' });
});
afterEach(async () => {
  await store.close();
});

const session = (stateHash: string, connectionId: string, expiresAt: number): AuthSession => ({
  stateHash,
  connectionId,
  sealedVerifier: 'sealed',
  nonce: 'n',
  redirectUri: 'https://bridge.example.org/callback',
  returnTo: null,
  browserHash: null,
  createdAt: expiresAt - 10 * MINUTE,
  expiresAt,
});

async function seed() {
  await store.connections.insert(
    pendingConnection({ id: 'con_web_old', userRef: 'web:1', createdAt: T0 }),
  );
  await store.connections.insert(
    pendingConnection({ id: 'con_web_live', userRef: 'web:2', createdAt: T0 }),
  );
  await store.connections.insert(
    connection({ id: 'con_web_done', userRef: 'web:3', createdAt: T0, connectedAt: T0 + 1 }),
  );
  await store.connections.insert(
    pendingConnection({ id: 'con_app', userRef: 'app:a:u', createdAt: T0 }),
  );
  await store.authSessions.put(session('s-old', 'con_web_old', T0 + 10 * MINUTE));
  await store.authSessions.put(session('s-live', 'con_web_live', T0 + 90 * MINUTE));
  await store.authSessions.put(session('s-app', 'con_app', T0 + 90 * MINUTE));
}

describe('sign-in bookkeeping', () => {
  it('counts live sessions and never-connected connections of a prefix only', async () => {
    await seed();
    expect(await store.authSessions.countLive(T0 + 20 * MINUTE, 'web:')).toBe(1);
    expect(await store.authSessions.countLive(T0, 'web:')).toBe(2);
    expect(await store.authSessions.countPendingConnections('web:')).toBe(2);
    expect(await store.authSessions.countPendingConnections('app:a:')).toBe(1);
  });

  it('forgets expired sessions and old never-connected connections without a live session', async () => {
    await seed();
    const now = T0 + 60 * MINUTE;
    expect(
      await store.authSessions.purgeAbandoned({
        now,
        pendingBefore: now - 30 * MINUTE,
        userRefPrefix: 'web:',
      }),
    ).toEqual({ sessions: 1, connections: 1 });
    expect(await store.connections.get('con_web_old')).toBeUndefined();
    // Kept: one with a sign-in in progress, one that connected, and other prefixes.
    for (const id of ['con_web_live', 'con_web_done', 'con_app'])
      expect(await store.connections.get(id)).toBeDefined();
    expect(await store.authSessions.get('s-live')).toBeDefined();
  });
});
