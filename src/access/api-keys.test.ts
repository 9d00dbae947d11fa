import { describe, expect, it } from 'vitest';
import { ManualClock } from '../common/clock.ts';
import { openSqliteStore } from '../store/sqlite/index.ts';
import { checkApiKey, createApiKey, KEY_USE_RESOLUTION_MS } from './api-keys.ts';

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
