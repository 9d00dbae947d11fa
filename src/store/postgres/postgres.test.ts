// The PostgreSQL adapter: the shared store contract in a schema of this run's own, then what
// only several processes on one database can show (each store below has its own pool, so its
// own server sessions, as a second process would).
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../common/clock.ts';
import { createSealer } from '../../common/seal.ts';
import { loadConfig } from '../../config/load.ts';
import { createKeyService } from '../../keys/service.ts';
import { openStore, storeConfigOf } from '../index.ts';
import { job } from '../jobs.contract.ts';
import type { Store } from '../port.ts';
import { connection, event, storeContract } from '../store.contract.ts';
import { delivery } from '../webhooks.contract.ts';
import { openPool } from './database.ts';
import { insertEvent } from './events.ts';
import { openPostgresStore } from './index.ts';
import { DEFAULT_MIGRATIONS_DIR } from './migrate.ts';
import {
  dropSchema,
  emptiedStores,
  freshSchema,
  TEST_POSTGRES_URL,
} from './test-schema.test-helper.ts';

const contractStores = emptiedStores();
afterAll(() => contractStores.drop());

storeContract('postgres', contractStores.open);

describe('postgres store across processes', () => {
  const opened: Store[] = [];
  const schemas: string[] = [];
  const open = async (schema: string) => {
    const store = await openPostgresStore({ url: TEST_POSTGRES_URL, schema, maxClients: 3 });
    opened.push(store);
    return store;
  };
  const schema = () => {
    const name = freshSchema();
    schemas.push(name);
    return name;
  };

  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    for (const name of schemas.splice(0)) await dropSchema(name);
  });

  it('four stores opening one new schema at once migrate it exactly once', async () => {
    const name = schema();
    const stores = await Promise.all([open(name), open(name), open(name), open(name)]);
    await stores[0]?.connections.insert(connection());
    expect((await stores[3]?.connections.get('con_1'))?.id).toBe('con_1');
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
    await client.connect();
    try {
      const { rows } = await client.query<{ version: number; n: string }>(
        `SELECT version, count(*) AS n FROM ${name}.schema_migrations GROUP BY version ORDER BY version`,
      );
      expect(rows.map((r) => [r.version, Number(r.n)])).toEqual(
        [1, 2, 3, 4, 5, 6, 7, 8, 9].map((v) => [v, 1]),
      );
    } finally {
      await client.end();
    }
  });

  it('of two processes refreshing from one token version, exactly one writes', async () => {
    const name = schema();
    const a = await open(name);
    const b = await open(name);
    await a.connections.insert(connection({ tokenVersion: 7 }));
    const results = await Promise.all(
      [a, b].flatMap((store, i) =>
        [0, 1, 2].map((j) =>
          store.connections.update(
            'con_1',
            { sealedTokens: `v1.mk1.iv.${i}-${j}.tag`, tokenVersion: 8 },
            7,
          ),
        ),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await b.connections.get('con_1'))?.tokenVersion).toBe(8);
  });

  it('two processes claiming at once never take the same job or delivery', async () => {
    const name = schema();
    const [a, b] = [await open(name), await open(name)];
    const T = Date.UTC(2026, 0, 1);
    for (let i = 0; i < 8; i++) {
      await a.jobs.insertUnique(job({ id: `job_${i}`, key: `sync:con_${i}`, runAt: T }));
    }
    const claims = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        (i % 2 ? a : b).jobs.claim({ owner: `w${i}`, now: T + 1, leaseUntil: T + 60_000 }),
      ),
    );
    const taken = claims.flatMap((c) => (c ? [c.id] : []));
    expect(taken.sort()).toEqual(Array.from({ length: 8 }, (_, i) => `job_${i}`));
    for (const j of await a.jobs.list({ limit: 10 })) expect(j.attempts).toBe(1);

    await a.webhooks.cursor('ep_1', T);
    const events = Array.from({ length: 6 }, (_, i) => event({ id: `evt_${i}` }));
    for (const e of events) await a.events.append(e);
    const deliveries = events.map((e, i) =>
      delivery({ id: `del_${i}`, eventId: e.id, nextAttemptAt: T }),
    );
    expect(await a.webhooks.fanOut('ep_1', null, 'evt_5', deliveries, T)).toBe(true);
    const batches = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).webhooks.claimDue(T + 1, T + 60_000, 2)),
    );
    const claimed = batches.flat().map((d) => d.id);
    expect(claimed.sort()).toEqual(deliveries.map((d) => d.id));
  });

  it('two processes enqueuing for one key at once make one job, and each gets it back', async () => {
    const name = schema();
    const [a, b] = [await open(name), await open(name)];
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? a : b).jobs.insertUnique(job({ id: `job_${i}`, key: 'sync:con_1' })),
      ),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const winner = results.find((r) => r.created)?.job.id;
    expect(new Set(results.map((r) => r.job.id))).toEqual(new Set([winner]));
    expect(await a.jobs.list({ limit: 20 })).toHaveLength(1);
  });

  it('two processes starting on an empty keyring make one active key between them', async () => {
    const name = schema();
    const clock = new ManualClock();
    const sealer = createSealer([{ id: 'm1', key: randomBytes(32) }]);
    const [a, b] = [await open(name), await open(name)];
    const services = [a, b].map((store) => createKeyService({ repo: store.keys, sealer, clock }));
    const made = await Promise.all(services.map((service) => service.ensure('sandbox')));
    expect(made[0]?.kid).toBe(made[1]?.kid);
    expect((await a.keys.list('sandbox')).map((k) => k.status)).toEqual(['active']);
  });

  it('two rotations at once in two processes add one next key; the other is refused', async () => {
    const name = schema();
    const clock = new ManualClock();
    const sealer = createSealer([{ id: 'm1', key: randomBytes(32) }]);
    const [a, b] = [await open(name), await open(name)];
    const services = [a, b].map((store) => createKeyService({ repo: store.keys, sealer, clock }));
    await services[0]?.ensure('sandbox');
    const outcomes = await Promise.allSettled(services.map((service) => service.rotate('sandbox')));
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect((await b.keys.list('sandbox')).map((k) => k.status).sort()).toEqual(['active', 'next']);
  });

  it('FHIRBRIDGE_STORE=postgres://... opens the PostgreSQL store in FHIRBRIDGE_STORE_SCHEMA', async () => {
    const name = schema();
    const config = loadConfig({
      env: { FHIRBRIDGE_STORE: TEST_POSTGRES_URL, FHIRBRIDGE_STORE_SCHEMA: name },
    });
    expect(storeConfigOf(config)).toEqual({
      kind: 'postgres',
      url: TEST_POSTGRES_URL,
      schema: name,
      maxClients: 10,
    });
    const store = await openStore(storeConfigOf(config));
    opened.push(store);
    await store.connections.insert(connection());
    const other = await open(name);
    expect((await other.connections.get('con_1'))?.id).toBe('con_1');
  });

  it('a postgres store in a config file needs its URL; FHIRBRIDGE_STORE=sqlite picks the file again', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'fhirbridge-pg-config-')), 'config.json');
    writeFileSync(file, JSON.stringify({ store: { kind: 'postgres' } }));
    expect(() => loadConfig({ env: {}, file })).toThrowError(/store\.url: /);
    const config = loadConfig({
      env: { FHIRBRIDGE_STORE: 'sqlite', FHIRBRIDGE_DATA_DIR: '/d' },
      file,
    });
    expect(storeConfigOf(config)).toEqual({ kind: 'sqlite', path: join('/d', 'fhirbridge.db') });
    rmSync(dirname(file), { recursive: true, force: true });
  });

  it('FHIRBRIDGE_STORE with another scheme is refused without echoing the URL', () => {
    expect(() =>
      loadConfig({ env: { FHIRBRIDGE_STORE: 'mysql://root:hunter2@db/x' } }),
    ).toThrowError(
      /FHIRBRIDGE_STORE: must be sqlite or a postgres:\/\/ URL \(got "mysql:\.\.\."\)/,
    );
    try {
      loadConfig({ env: { FHIRBRIDGE_STORE: 'mysql://root:hunter2@db/x' } });
    } catch (error) {
      expect(String((error as Error).message)).not.toContain('hunter2');
    }
  });

  it('an append waits for an open append to commit, so readers by seq never pass an event', async () => {
    const name = schema();
    const store = await open(name);
    const db = openPool({ url: TEST_POSTGRES_URL, schema: name, maxClients: 2 });
    let release: () => void = () => {};
    try {
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      let firstInserted: () => void = () => {};
      const inserted = new Promise<void>((resolve) => {
        firstInserted = resolve;
      });
      const first = db.tx(async (client) => {
        await insertEvent(client, event({ id: 'evt_first' }));
        firstInserted();
        await held;
      });
      await inserted;
      let secondDone = false;
      const second = store.events.append(event({ id: 'evt_second' })).then(() => {
        secondDone = true;
      });
      // While the first append is uncommitted, the second neither commits nor is visible.
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(secondDone).toBe(false);
      expect(await store.events.list({ limit: 10 })).toEqual([]);
      release();
      await Promise.all([first, second]);
      expect((await store.events.list({ limit: 10 })).map((e) => e.id)).toEqual([
        'evt_first',
        'evt_second',
      ]);
    } finally {
      // A failed expectation must not leave the first transaction open (close would wait).
      release();
      await db.close();
    }
  });

  it('refuses a schema whose applied migration changed, or that a newer build migrated', async () => {
    const name = schema();
    const dir = mkdtempSync(join(tmpdir(), 'fhirbridge-pg-migrations-'));
    try {
      cpSync(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
      await open(name);
      writeFileSync(join(dir, '008_api_key_roles.sql'), '-- edited\nSELECT 1;\n');
      await expect(
        openPostgresStore({ url: TEST_POSTGRES_URL, schema: name, migrationsDir: dir }),
      ).rejects.toThrow(/migration 008_api_key_roles\.sql was changed after it was applied/);

      cpSync(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
      rmSync(join(dir, '008_api_key_roles.sql'));
      await expect(
        openPostgresStore({ url: TEST_POSTGRES_URL, schema: name, migrationsDir: dir }),
      ).rejects.toThrow(/database has migration 8 \(api_key_roles\) that this build does not know/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a server that never answers fails the open after the connect timeout instead of hanging', async () => {
    const { createServer } = await import('node:net');
    // A port that accepts and then says nothing: what a firewalled or stopped database looks like.
    const silent = createServer((socket) => socket.on('error', () => {}));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      await expect(
        openPostgresStore({
          url: `postgres://postgres@127.0.0.1:${port}/test`,
          schema: 'unused',
          connectTimeoutMs: 300,
        }),
      ).rejects.toThrow(/timeout/i);
    } finally {
      silent.close();
    }
  });
});
