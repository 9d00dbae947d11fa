// The store contract: one vitest suite every adapter of port.ts must pass (run it from the
// adapter's own test file). `open` must return a fresh, empty store each time it is called.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isBridgeError } from '../common/errors.ts';
import { jobsContract } from './jobs.contract.ts';
import type {
  ApiKeyRecord,
  AuthSession,
  ConnectionRecord,
  EventRecord,
  Store,
  StoredKey,
} from './port.ts';
import { practiceContract } from './practices.contract.ts';
import { resourceContract } from './resources.contract.ts';
import { webhooksContract } from './webhooks.contract.ts';

const T0 = Date.UTC(2026, 0, 1);
const MINUTE = 60_000;

export function key(overrides: Partial<StoredKey> = {}): StoredKey {
  return {
    kid: 'kid-1',
    keyring: 'sandbox',
    status: 'active',
    publicJwk: { kty: 'RSA', kid: 'kid-1', alg: 'RS384', use: 'sig', n: 'AQAB-n', e: 'AQAB' },
    sealedPrivateKey: 'v1.mk1.iv.sealed-pem.tag',
    createdAt: T0,
    activatesAt: null,
    removeAt: null,
    ...overrides,
  };
}

export function connection(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id: 'con_1',
    registration: 'sandbox',
    practiceBase: 'https://fhir4.healow.com/fhir/r4/JAFJCD',
    userRef: 'user-1',
    state: 'active',
    stateReason: 'connected',
    patientId: 'pat-1',
    fhirUser: 'Patient/pat-1',
    grantedScopes: ['openid', 'fhirUser', 'offline_access', 'patient/Patient.read'],
    sealedTokens: 'v1.mk1.iv.sealed-tokens.tag',
    accessExpiresAt: T0 + 60 * MINUTE,
    accessIssuedAt: T0,
    refreshExpiresAt: T0 + 90 * 24 * 60 * MINUTE,
    refreshAttemptAt: T0 + 3,
    sealedRefreshAnswer: 'v1.mk1.iv.sealed-answer.tag',
    tokenVersion: 1,
    refreshLeaseUntil: T0 + MINUTE,
    createdAt: T0,
    updatedAt: T0 + 1,
    connectedAt: T0 + 2,
    ...overrides,
  };
}

/** A connection with every nullable field null and no scopes (a fresh `pending` one). */
export function pendingConnection(overrides: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return connection({
    state: 'pending',
    stateReason: null,
    patientId: null,
    fhirUser: null,
    grantedScopes: [],
    sealedTokens: null,
    accessExpiresAt: null,
    accessIssuedAt: null,
    refreshExpiresAt: null,
    refreshAttemptAt: null,
    sealedRefreshAnswer: null,
    tokenVersion: 0,
    refreshLeaseUntil: null,
    connectedAt: null,
    ...overrides,
  });
}

export function authSession(overrides: Partial<AuthSession> = {}): AuthSession {
  return {
    stateHash: 'state-hash-1',
    connectionId: 'con_1',
    sealedVerifier: 'v1.mk1.iv.sealed-verifier.tag',
    nonce: 'nonce-1',
    redirectUri: 'http://127.0.0.1:8080/connect/callback',
    returnTo: 'https://app.example/after',
    browserHash: 'browser-hash-1',
    createdAt: T0,
    expiresAt: T0 + 10 * MINUTE,
    ...overrides,
  };
}

export function apiKey(overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: 'key_1',
    name: 'app backend',
    role: 'app',
    hash: 'a'.repeat(64),
    createdAt: T0,
    lastUsedAt: null,
    revokedAt: null,
    ...overrides,
  };
}

export function event(overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    id: 'evt_1',
    type: 'connection.active',
    connectionId: 'con_1',
    data: { state: 'active', scopes: ['openid', 'patient/*.read'], nested: { n: 1, ok: true } },
    createdAt: T0,
    ...overrides,
  };
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isBridgeError(error), `expected a BridgeError('${code}'), got ${String(error)}`).toBe(
    true,
  );
  expect((error as { code: string }).code).toBe(code);
}

export function storeContract(name: string, open: () => Promise<Store>): void {
  describe(`store contract: ${name}`, () => {
    let store: Store;

    beforeEach(async () => {
      store = await open();
    });

    afterEach(async () => {
      await store.close();
    });

    practiceContract(() => store);
    resourceContract(() => store);
    jobsContract(() => store);
    webhooksContract(() => store);

    describe('keys', () => {
      it('round-trips every field, with and without the nullable times', async () => {
        const next = key({ kid: 'k-next', status: 'next', activatesAt: T0 + 5, createdAt: T0 });
        const retired = key({
          kid: 'k-old',
          status: 'retired',
          removeAt: T0 + 9,
          createdAt: T0 + 1,
          publicJwk: { kty: 'RSA', key_ops: ['verify'], x5c: [] },
        });
        await store.keys.put(next);
        await store.keys.put(retired);
        expect(await store.keys.list('sandbox')).toEqual([next, retired]);
      });

      it('lists one keyring only, ordered by createdAt', async () => {
        await store.keys.put(key({ kid: 'b', createdAt: T0 + 2 }));
        await store.keys.put(key({ kid: 'a', createdAt: T0 + 3 }));
        await store.keys.put(key({ kid: 'c', createdAt: T0 + 1 }));
        await store.keys.put(key({ kid: 'p', keyring: 'production' }));
        expect((await store.keys.list('sandbox')).map((k) => k.kid)).toEqual(['c', 'b', 'a']);
        expect((await store.keys.list('production')).map((k) => k.kid)).toEqual(['p']);
        expect(await store.keys.list('nope')).toEqual([]);
      });

      it('put replaces a key with the same kid', async () => {
        await store.keys.put(key({ status: 'next', activatesAt: T0 + 5 }));
        const rotated = key({ status: 'retired', activatesAt: null, removeAt: T0 + 7 });
        await store.keys.put(rotated);
        expect(await store.keys.list('sandbox')).toEqual([rotated]);
      });

      it('delete removes the key; deleting an unknown kid is a no-op', async () => {
        await store.keys.put(key({ kid: 'a' }));
        await store.keys.put(key({ kid: 'b', createdAt: T0 + 1 }));
        await store.keys.delete('a');
        await store.keys.delete('never-there');
        expect((await store.keys.list('sandbox')).map((k) => k.kid)).toEqual(['b']);
      });
    });

    describe('connections', () => {
      it('round-trips every field', async () => {
        const record = connection();
        await store.connections.insert(record);
        expect(await store.connections.get(record.id)).toEqual(record);
      });

      it('round-trips nulls and an empty scope list', async () => {
        const record = pendingConnection();
        await store.connections.insert(record);
        expect(await store.connections.get(record.id)).toEqual(record);
      });

      it('get of an unknown id is undefined', async () => {
        expect(await store.connections.get('con_missing')).toBeUndefined();
      });

      it('a duplicate id is a conflict', async () => {
        await store.connections.insert(connection());
        await expectCode(store.connections.insert(connection({ userRef: 'other' })), 'conflict');
      });

      it('a second connection of the same user at the same practice is a conflict', async () => {
        await store.connections.insert(connection());
        await expectCode(store.connections.insert(connection({ id: 'con_2' })), 'conflict');
        // The same user elsewhere is a different connection.
        await store.connections.insert(connection({ id: 'con_3', registration: 'production' }));
        await store.connections.insert(
          connection({ id: 'con_4', practiceBase: 'https://fhir4.healow.com/fhir/r4/OTHER' }),
        );
        await store.connections.insert(connection({ id: 'con_5', userRef: 'user-2' }));
        expect((await store.connections.list({ limit: 10 })).length).toBe(4);
      });

      it('findByUser matches registration, practice base and user exactly', async () => {
        const record = connection();
        await store.connections.insert(record);
        await store.connections.insert(connection({ id: 'con_2', registration: 'production' }));
        const { registration, practiceBase, userRef } = record;
        expect(await store.connections.findByUser(registration, practiceBase, userRef)).toEqual(
          record,
        );
        expect(
          await store.connections.findByUser(registration, `${practiceBase}/`, userRef),
        ).toBeUndefined();
        expect(
          await store.connections.findByUser(registration, practiceBase, 'USER-1'),
        ).toBeUndefined();
      });

      it('update applies only the patched fields, null clears, undefined leaves', async () => {
        const record = connection();
        await store.connections.insert(record);
        const applied = await store.connections.update(record.id, {
          state: 'expired',
          stateReason: null,
          grantedScopes: ['openid'],
          accessExpiresAt: null,
          refreshLeaseUntil: null,
          patientId: undefined,
          updatedAt: T0 + 50,
        });
        expect(applied).toBe(true);
        expect(await store.connections.get(record.id)).toEqual({
          ...record,
          state: 'expired',
          stateReason: null,
          grantedScopes: ['openid'],
          accessExpiresAt: null,
          refreshLeaseUntil: null,
          updatedAt: T0 + 50,
        });
      });

      it('update sets every patchable field', async () => {
        const record = pendingConnection();
        await store.connections.insert(record);
        const { id, registration, practiceBase, userRef, createdAt, ...patch } = connection({
          tokenVersion: 7,
          updatedAt: T0 + 99,
        });
        expect(await store.connections.update(record.id, patch)).toBe(true);
        expect(await store.connections.get(record.id)).toEqual({
          ...patch,
          id: record.id,
          registration: record.registration,
          practiceBase: record.practiceBase,
          userRef: record.userRef,
          createdAt: record.createdAt,
        });
      });

      it('update of an unknown id returns false', async () => {
        expect(await store.connections.update('con_missing', { state: 'error' })).toBe(false);
        expect(await store.connections.update('con_missing', { state: 'error' }, 0)).toBe(false);
      });

      it('compare-and-set applies when tokenVersion still matches', async () => {
        await store.connections.insert(connection({ tokenVersion: 3 }));
        const ok = await store.connections.update(
          'con_1',
          { sealedTokens: 'v1.mk1.iv.new.tag', tokenVersion: 4 },
          3,
        );
        expect(ok).toBe(true);
        const after = await store.connections.get('con_1');
        expect(after?.sealedTokens).toBe('v1.mk1.iv.new.tag');
        expect(after?.tokenVersion).toBe(4);
      });

      it('compare-and-set changes nothing when tokenVersion moved on', async () => {
        const record = connection({ tokenVersion: 4 });
        await store.connections.insert(record);
        const ok = await store.connections.update(
          'con_1',
          { sealedTokens: 'v1.mk1.iv.stale.tag', tokenVersion: 4, state: 'error' },
          3,
        );
        expect(ok).toBe(false);
        expect(await store.connections.get('con_1')).toEqual(record);
      });

      it('of two refreshes racing from one version, exactly one writes', async () => {
        await store.connections.insert(connection({ tokenVersion: 1 }));
        const results = await Promise.all(
          ['a', 'b'].map((who) =>
            store.connections.update(
              'con_1',
              { sealedTokens: `v1.mk1.iv.${who}.tag`, tokenVersion: 2 },
              1,
            ),
          ),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        const winner = results[0] ? 'a' : 'b';
        expect((await store.connections.get('con_1'))?.sealedTokens).toBe(
          `v1.mk1.iv.${winner}.tag`,
        );
      });

      it('listExpiring returns active connections lapsing before the time, soonest first', async () => {
        const at = (id: string, accessExpiresAt: number | null, extra = {}) =>
          connection({ id, userRef: id, accessExpiresAt, ...extra });
        await store.connections.insert(at('late', T0 + 30));
        await store.connections.insert(at('soon', T0 + 10));
        await store.connections.insert(at('mid', T0 + 20));
        await store.connections.insert(at('boundary', T0 + 100));
        await store.connections.insert(at('after', T0 + 200));
        await store.connections.insert(at('never', null));
        await store.connections.insert(at('expired', T0 + 1, { state: 'expired' }));
        await store.connections.insert(at('revoked', T0 + 1, { state: 'revoked' }));
        await store.connections.insert(at('pending', T0 + 1, { state: 'pending' }));
        const ids = (list: ConnectionRecord[]) => list.map((c) => c.id);
        expect(ids(await store.connections.listExpiring(T0 + 100, 10))).toEqual([
          'soon',
          'mid',
          'late',
        ]);
        expect(ids(await store.connections.listExpiring(T0 + 100, 2))).toEqual(['soon', 'mid']);
        expect(ids(await store.connections.listExpiring(T0, 10))).toEqual([]);
      });

      it('list pages newest first', async () => {
        for (const [i, id] of ['c1', 'c2', 'c3', 'c4', 'c5'].entries()) {
          await store.connections.insert(connection({ id, userRef: id, createdAt: T0 + i }));
        }
        const ids = (list: ConnectionRecord[]) => list.map((c) => c.id);
        expect(ids(await store.connections.list({ limit: 10 }))).toEqual([
          'c5',
          'c4',
          'c3',
          'c2',
          'c1',
        ]);
        expect(ids(await store.connections.list({ limit: 2 }))).toEqual(['c5', 'c4']);
        expect(ids(await store.connections.list({ limit: 2, offset: 2 }))).toEqual(['c3', 'c2']);
        expect(ids(await store.connections.list({ limit: 2, offset: 4 }))).toEqual(['c1']);
        expect(ids(await store.connections.list({ limit: 2, offset: 5 }))).toEqual([]);
      });

      it('delete removes the connection and frees its user slot', async () => {
        const record = connection();
        await store.connections.insert(record);
        await store.connections.delete(record.id);
        await store.connections.delete('con_missing');
        expect(await store.connections.get(record.id)).toBeUndefined();
        expect(
          await store.connections.findByUser(
            record.registration,
            record.practiceBase,
            record.userRef,
          ),
        ).toBeUndefined();
        await store.connections.insert(connection({ id: 'con_2' }));
        expect((await store.connections.get('con_2'))?.userRef).toBe(record.userRef);
      });
    });

    describe('auth sessions', () => {
      beforeEach(async () => {
        await store.connections.insert(pendingConnection({ id: 'con_1' }));
      });

      it('round-trips every field through get and take', async () => {
        const session = authSession();
        await store.authSessions.put(session);
        expect(await store.authSessions.get(session.stateHash)).toEqual(session);
        expect(await store.authSessions.take(session.stateHash)).toEqual(session);
      });

      it('round-trips the nullable fields as null', async () => {
        const session = authSession({ returnTo: null, browserHash: null });
        await store.authSessions.put(session);
        expect(await store.authSessions.get(session.stateHash)).toEqual(session);
      });

      it('get does not consume the session; unknown states are undefined', async () => {
        await store.authSessions.put(authSession());
        await store.authSessions.get('state-hash-1');
        expect(await store.authSessions.get('state-hash-1')).toBeDefined();
        expect(await store.authSessions.get('unknown')).toBeUndefined();
        expect(await store.authSessions.take('unknown')).toBeUndefined();
      });

      it('a state works once: the second take finds nothing', async () => {
        await store.authSessions.put(authSession());
        expect(await store.authSessions.take('state-hash-1')).toBeDefined();
        expect(await store.authSessions.take('state-hash-1')).toBeUndefined();
        expect(await store.authSessions.get('state-hash-1')).toBeUndefined();
      });

      it('of two callbacks racing with one state, exactly one takes it', async () => {
        await store.authSessions.put(authSession());
        const taken = await Promise.all([
          store.authSessions.take('state-hash-1'),
          store.authSessions.take('state-hash-1'),
        ]);
        expect(taken.filter((s) => s !== undefined)).toHaveLength(1);
      });

      it('take returns an expired session too: the caller judges expiry with its clock', async () => {
        const session = authSession({ expiresAt: T0 - 1 });
        await store.authSessions.put(session);
        expect(await store.authSessions.take(session.stateHash)).toEqual(session);
      });

      it('a duplicate state hash is a conflict and keeps the first session', async () => {
        const first = authSession();
        await store.authSessions.put(first);
        await expectCode(store.authSessions.put(authSession({ nonce: 'other' })), 'conflict');
        expect(await store.authSessions.get(first.stateHash)).toEqual(first);
      });

      it('a session for a connection that does not exist is refused', async () => {
        await expectCode(
          store.authSessions.put(authSession({ connectionId: 'con_missing' })),
          'not_found',
        );
      });

      it('deleting the connection ends its pending sessions', async () => {
        await store.authSessions.put(authSession());
        await store.connections.delete('con_1');
        expect(await store.authSessions.get('state-hash-1')).toBeUndefined();
      });

      it('bindBrowser binds once: the first browser wins', async () => {
        await store.authSessions.put(authSession({ browserHash: null }));
        expect(await store.authSessions.bindBrowser('state-hash-1', 'browser-a')).toBe(true);
        expect(await store.authSessions.bindBrowser('state-hash-1', 'browser-b')).toBe(false);
        expect(await store.authSessions.bindBrowser('state-hash-1', 'browser-a')).toBe(false);
        expect((await store.authSessions.get('state-hash-1'))?.browserHash).toBe('browser-a');
        expect(await store.authSessions.bindBrowser('unknown', 'browser-a')).toBe(false);
      });

      it('bindBrowser does not rebind a session created already bound', async () => {
        await store.authSessions.put(authSession({ browserHash: 'browser-a' }));
        expect(await store.authSessions.bindBrowser('state-hash-1', 'browser-b')).toBe(false);
        expect((await store.authSessions.get('state-hash-1'))?.browserHash).toBe('browser-a');
      });

      it('purgeExpired removes sessions that expired before now and counts them', async () => {
        await store.authSessions.put(authSession({ stateHash: 'old-1', expiresAt: T0 - 2 }));
        await store.authSessions.put(authSession({ stateHash: 'old-2', expiresAt: T0 - 1 }));
        await store.authSessions.put(authSession({ stateHash: 'edge', expiresAt: T0 }));
        await store.authSessions.put(authSession({ stateHash: 'live', expiresAt: T0 + 1 }));
        expect(await store.authSessions.purgeExpired(T0)).toBe(2);
        expect(await store.authSessions.purgeExpired(T0)).toBe(0);
        expect(await store.authSessions.get('old-1')).toBeUndefined();
        expect(await store.authSessions.get('old-2')).toBeUndefined();
        expect(await store.authSessions.take('edge')).toBeDefined();
        expect(await store.authSessions.take('live')).toBeDefined();
      });
    });

    describe('API keys', () => {
      it('round-trips every field, nulls included', async () => {
        const fresh = apiKey();
        const used = apiKey({
          id: 'key_2',
          hash: 'b'.repeat(64),
          lastUsedAt: T0 + 5,
          revokedAt: T0 + 6,
        });
        await store.apiKeys.insert(fresh);
        await store.apiKeys.insert(used);
        expect(await store.apiKeys.findByHash(fresh.hash)).toEqual(fresh);
        expect(await store.apiKeys.findByHash(used.hash)).toEqual(used);
        expect(await store.apiKeys.findByHash('c'.repeat(64))).toBeUndefined();
      });

      it('a duplicate id or hash is a conflict', async () => {
        await store.apiKeys.insert(apiKey());
        await expectCode(store.apiKeys.insert(apiKey({ hash: 'b'.repeat(64) })), 'conflict');
        await expectCode(store.apiKeys.insert(apiKey({ id: 'key_2' })), 'conflict');
        expect(await store.apiKeys.list()).toHaveLength(1);
      });

      it('list returns every key, revoked too, oldest first', async () => {
        await store.apiKeys.insert(apiKey({ id: 'k2', hash: '2', createdAt: T0 + 2 }));
        await store.apiKeys.insert(apiKey({ id: 'k1', hash: '1', createdAt: T0 + 1 }));
        await store.apiKeys.insert(apiKey({ id: 'k3', hash: '3', createdAt: T0 + 3 }));
        await store.apiKeys.revoke('k2', T0 + 9);
        expect((await store.apiKeys.list()).map((k) => k.id)).toEqual(['k1', 'k2', 'k3']);
      });

      it('touch records the last use; touching an unknown id is a no-op', async () => {
        await store.apiKeys.insert(apiKey());
        await store.apiKeys.touch('key_1', T0 + 10);
        await store.apiKeys.touch('key_1', T0 + 20);
        await store.apiKeys.touch('key_missing', T0 + 30);
        expect(await store.apiKeys.findByHash(apiKey().hash)).toEqual(
          apiKey({ lastUsedAt: T0 + 20 }),
        );
      });

      it('revoke revokes a live key once and keeps the first time', async () => {
        await store.apiKeys.insert(apiKey());
        expect(await store.apiKeys.revoke('key_1', T0 + 10)).toBe(true);
        expect(await store.apiKeys.revoke('key_1', T0 + 20)).toBe(false);
        expect(await store.apiKeys.revoke('key_missing', T0 + 20)).toBe(false);
        expect((await store.apiKeys.findByHash(apiKey().hash))?.revokedAt).toBe(T0 + 10);
      });
    });

    describe('events', () => {
      it('round-trips every field, with and without a connection', async () => {
        const withConnection = event();
        const global = event({ id: 'evt_2', type: 'key.rotated', connectionId: null, data: {} });
        await store.events.append(withConnection);
        await store.events.append(global);
        expect(await store.events.list({ limit: 10 })).toEqual([withConnection, global]);
      });

      it('lists in insertion order, whatever the ids and times', async () => {
        await store.events.append(event({ id: 'z', createdAt: T0 + 5 }));
        await store.events.append(event({ id: 'a', createdAt: T0 + 1 }));
        await store.events.append(event({ id: 'm', createdAt: T0 + 1 }));
        expect((await store.events.list({ limit: 10 })).map((e) => e.id)).toEqual(['z', 'a', 'm']);
      });

      it('filters by connection, pages after an id and respects the limit', async () => {
        const order = [
          ['e1', 'con_1'],
          ['e2', 'con_2'],
          ['e3', 'con_1'],
          ['e4', null],
          ['e5', 'con_1'],
          ['e6', 'con_2'],
        ] as const;
        for (const [id, connectionId] of order) {
          await store.events.append(event({ id, connectionId }));
        }
        const ids = (list: EventRecord[]) => list.map((e) => e.id);
        expect(ids(await store.events.list({ connectionId: 'con_1', limit: 10 }))).toEqual([
          'e1',
          'e3',
          'e5',
        ]);
        expect(ids(await store.events.list({ after: 'e2', limit: 10 }))).toEqual([
          'e3',
          'e4',
          'e5',
          'e6',
        ]);
        expect(ids(await store.events.list({ after: 'e2', limit: 2 }))).toEqual(['e3', 'e4']);
        // The cursor may be any event, even one of another connection.
        expect(
          ids(await store.events.list({ connectionId: 'con_1', after: 'e2', limit: 10 })),
        ).toEqual(['e3', 'e5']);
        expect(
          ids(await store.events.list({ connectionId: 'con_1', after: 'e5', limit: 10 })),
        ).toEqual([]);
        expect(ids(await store.events.list({ limit: 3 }))).toEqual(['e1', 'e2', 'e3']);
        expect(await store.events.list({ connectionId: 'con_9', limit: 10 })).toEqual([]);
      });

      it('an unknown cursor is an invalid request, not an empty page', async () => {
        await store.events.append(event());
        await expectCode(store.events.list({ after: 'evt_missing', limit: 10 }), 'invalid_request');
      });

      it('a duplicate id is a conflict', async () => {
        await store.events.append(event());
        await expectCode(store.events.append(event({ type: 'other' })), 'conflict');
        expect(await store.events.list({ limit: 10 })).toEqual([event()]);
      });

      it('events outlive the connection they tell about', async () => {
        await store.connections.insert(connection());
        await store.events.append(event({ type: 'connection.deleted' }));
        await store.connections.delete('con_1');
        expect((await store.events.list({ connectionId: 'con_1', limit: 10 })).length).toBe(1);
      });
    });
  });
}
