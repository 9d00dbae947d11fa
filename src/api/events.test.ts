// GET /api/events, in-process against a real SQLite store: the cursor, the type filter, and an
// app key that reads its own connections' events only, never the secrets an emitter put in.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { installErrorHandling } from '../http/errors.ts';
import type { ApiKeyRecord, Store } from '../store/port.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { connection } from '../store/store.contract.ts';
import { registerEventRoutes } from './events.ts';

const root = mkdtempSync(join(tmpdir(), 'fhirbridge-api-events-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const key = (name: string, role: 'app' | 'admin'): ApiKeyRecord => ({
  id: `key_${name}`,
  name,
  role,
  hash: 'x',
  createdAt: 0,
  lastUsedAt: null,
  revokedAt: null,
});
const KEYS = { ops: key('ops', 'admin'), a: key('app-a', 'app'), b: key('app-b', 'app') };
const CON_A = 'con_aaaaaaaaaaaaaaaa';
const CON_B = 'con_bbbbbbbbbbbbbbbb';

describe('GET /api/events', () => {
  let store: Store;
  let app: FastifyInstance;
  const get = async (who: keyof typeof KEYS, query = '') => {
    const response = await app.inject({ url: `/api/events${query}`, headers: { 'x-key': who } });
    return { status: response.statusCode, body: response.json() as Record<string, unknown> };
  };
  const ids = (body: Record<string, unknown>) =>
    (body.events as Array<{ id: string }>).map((e) => e.id);

  beforeEach(async () => {
    store = await openSqliteStore({ path: join(mkdtempSync(join(root, 's-')), 'store.db') });
    await store.connections.insert(connection({ id: CON_A, userRef: 'app:app-a:u1' }));
    await store.connections.insert(connection({ id: CON_B, userRef: 'app:app-b:u1' }));
    // 300 events (more than one store batch), alternating between the two apps' connections.
    for (let n = 0; n < 300; n++) {
      await store.events.append({
        id: `evt_${String(n).padStart(6, '0')}`,
        type: n % 10 === 0 ? 'sync.completed' : 'connection.connected',
        connectionId: n % 2 === 0 ? CON_A : CON_B,
        data: { n, access_token: 'never-shown' },
        createdAt: 1_000 + n,
      });
    }
    app = Fastify();
    installErrorHandling(app);
    app.decorateRequest('apiKey', undefined);
    app.addHook('onRequest', async (request) => {
      request.apiKey = KEYS[request.headers['x-key'] as keyof typeof KEYS];
    });
    registerEventRoutes(app, { store });
  });

  it('reads every event once, oldest first, by following next', async () => {
    const seen: string[] = [];
    let after = '';
    for (let page = 0; page < 10; page++) {
      const { body } = await get('ops', `?limit=70${after ? `&after=${after}` : ''}`);
      seen.push(...ids(body));
      if ((body.events as unknown[]).length < 70) break;
      after = body.next as string;
    }
    expect(seen).toEqual(
      Array.from({ length: 300 }, (_, n) => `evt_${String(n).padStart(6, '0')}`),
    );
  });

  it("gives an app key its own connections' events only, and the cursor skips the others", async () => {
    const first = await get('a', '?limit=3');
    expect(ids(first.body)).toEqual(['evt_000000', 'evt_000002', 'evt_000004']);
    expect(first.body.next).toBe('evt_000004');
    const rest = await get('a', `?limit=500&after=${first.body.next}`);
    // The rest of app A's events (the even ones), none of app B's.
    const evenAfterFour = Array.from({ length: 300 }, (_, n) => n).filter(
      (n) => n % 2 === 0 && n > 4,
    );
    expect(ids(rest.body)).toEqual(evenAfterFour.map((n) => `evt_${String(n).padStart(6, '0')}`));
    expect(rest.body.next).toBe('evt_000299');
    // Another app's connection answers as if it did not exist.
    expect((await get('a', `?connectionId=${CON_B}`)).status).toBe(404);
  });

  it('filters by type and connection, and never shows a secret', async () => {
    const { body } = await get('a', `?type=sync.completed&connectionId=${CON_A}&limit=500`);
    const own = body.events as Array<{ type: string; data: Record<string, unknown> }>;
    expect(own.map((e) => e.data.n)).toEqual(Array.from({ length: 30 }, (_, i) => i * 10));
    // Every sync.completed is app A's: app B reads none of them.
    expect(ids((await get('b', '?type=sync.completed&limit=500')).body)).toEqual([]);
    const admin = await get('ops', '?type=sync.completed&limit=500');
    const completed = admin.body.events as Array<{ data: Record<string, unknown> }>;
    expect(completed.map((e) => e.data.n)).toEqual(Array.from({ length: 30 }, (_, i) => i * 10));
    expect(JSON.stringify(admin.body)).not.toContain('never-shown');
  });

  it('refuses an unknown cursor and a malformed type', async () => {
    expect((await get('ops', '?after=evt_nope')).status).toBe(400);
    expect((await get('ops', '?type=DROP TABLE')).status).toBe(400);
  });
});
