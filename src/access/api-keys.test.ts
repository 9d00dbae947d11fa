import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import {
  checkApiKey,
  createApiKey,
  KEY_USE_RESOLUTION_MS,
  revokeApiKey,
  VERIFIED_KEY_TTL_MS,
} from './api-keys.ts';

describe('checkApiKey', () => {
  it('writes lastUsedAt at most once per resolution period, not on every request', async () => {
    const clock = new ManualClock();
    const store = await openSqliteStore({ path: ':memory:' });
    const { secret } = await createApiKey(store, clock, 'app1');
    const touches: number[] = [];
    const touch = store.apiKeys.touch.bind(store.apiKeys);
    store.apiKeys.touch = (id, at) => {
      touches.push(at);
      return touch(id, at);
    };
    const first = clock.now();
    for (let i = 0; i < 5; i++) {
      await checkApiKey(store, clock, secret);
      clock.advance(KEY_USE_RESOLUTION_MS / 5 - 1);
    }
    // Five requests over all but 5 ms of a period: one write.
    expect(touches).toEqual([first]);
    clock.advance(5);
    await checkApiKey(store, clock, secret);
    expect(touches).toEqual([first, first + KEY_USE_RESOLUTION_MS]);
    expect((await store.apiKeys.list())[0]?.lastUsedAt).toBe(first + KEY_USE_RESOLUTION_MS);
    await store.close();
  });
});

describe('verified API keys', () => {
  it('asks the store once per key per period, not on every request', async () => {
    const clock = new ManualClock();
    const store = await openSqliteStore({ path: ':memory:' });
    const { secret } = await createApiKey(store, clock, 'app1');
    let lookups = 0;
    const findByHash = store.apiKeys.findByHash.bind(store.apiKeys);
    store.apiKeys.findByHash = (hash) => {
      lookups++;
      return findByHash(hash);
    };
    for (let i = 0; i < 10; i++) await checkApiKey(store, clock, secret);
    expect(lookups).toBe(1);
    clock.advance(VERIFIED_KEY_TTL_MS);
    await checkApiKey(store, clock, secret);
    expect(lookups).toBe(2);
    await store.close();
  });

  it('refuses a key revoked in this process at once', async () => {
    const clock = new ManualClock();
    const store = await openSqliteStore({ path: ':memory:' });
    const { record, secret } = await createApiKey(store, clock, 'app1');
    await checkApiKey(store, clock, secret);
    await revokeApiKey(store, clock, record.id);
    await expect(checkApiKey(store, clock, secret)).rejects.toMatchObject({
      code: 'unauthorized',
    });
    await store.close();
  });

  it('refuses a key revoked by another process within VERIFIED_KEY_TTL_MS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fb-keys-'));
    const clock = new ManualClock();
    // Two handles on one SQLite file: this process's store and another process's.
    const here = await openSqliteStore({ path: join(dir, 'bridge.db') });
    const there = await openSqliteStore({ path: join(dir, 'bridge.db') });
    try {
      const { record, secret } = await createApiKey(here, clock, 'app1');
      await checkApiKey(here, clock, secret);
      await revokeApiKey(there, clock, record.id);
      clock.advance(VERIFIED_KEY_TTL_MS - 1);
      // Still within the bound: the key verified a moment ago is taken as live.
      await expect(checkApiKey(here, clock, secret)).resolves.toMatchObject({ id: record.id });
      clock.advance(1);
      await expect(checkApiKey(here, clock, secret)).rejects.toMatchObject({
        code: 'unauthorized',
      });
    } finally {
      await here.close();
      await there.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
